"""The auditor: recompute the whole log from its leaves and check everything stored against it.

Checks, in index order, streaming (memory stays O(chunk + log n)):
- leaf indexes run 0, 1, 2, … with no gap, and a leaf whose content is still held hashes to its leaf hash;
- every stored node equals the node recomputed from the leaf hashes (a changed leaf, node or missing node);
- every stored tree head is signed by a published key of its generation, and its root is the root recomputed
  at its size; successive heads are consistent (their proof, built from the stored nodes, verifies).
The first problem found is named (leaf index, node or head size); the command exits non-zero on any.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.records import merkle
from api.records.client import LOG_ORIGIN, LogVerificationError, TreeHead, verify_head
from api.records.log import consistency_proof
from api.records.merkle import Node
from api.records.models import LogLeaf, LogNode, TreeHeadRow

CHUNK = 20_000


@dataclass
class AuditReport:
    leaves: int = 0
    heads: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def _stored_nodes(session: AsyncSession, wanted: Mapping[Node, bytes]) -> dict[Node, bytes]:
    """The stored nodes among ``wanted``'s positions: one range read per level."""
    by_level: dict[int, list[int]] = {}
    for level, index in wanted:
        by_level.setdefault(level, []).append(index)
    condition = or_(*(and_(LogNode.level == level, LogNode.node_index.between(min(ix), max(ix)))
                      for level, ix in by_level.items()))
    rows = await session.execute(select(LogNode.level, LogNode.node_index, LogNode.hash).where(condition))
    return {(level, index): value for level, index, value in rows}


async def audit_log(session: AsyncSession, public_keys: Mapping[int, bytes], *, origin: str = LOG_ORIGIN,
                    chunk: int = CHUNK) -> AuditReport:
    report = AuditReport()
    rows = (await session.execute(select(TreeHeadRow).order_by(TreeHeadRow.size))).scalars().all()
    heads = [TreeHead(r.size, r.root_hash, r.timestamp_ms, r.key_generation, r.signature) for r in rows]
    report.heads = len(heads)
    last_size = heads[-1].size if heads else 0
    stops = [head.size for head in heads]
    edge: dict[Node, bytes] = {}
    size = 0
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    for stop in stops:
        while size < stop:
            end = min(stop, size + chunk)
            leaves = (await session.execute(
                select(LogLeaf.leaf_index, LogLeaf.leaf_hash, LogLeaf.leaf_data)
                .where(LogLeaf.leaf_index >= size, LogLeaf.leaf_index < end).order_by(LogLeaf.leaf_index))).all()
            hashes: list[bytes] = []
            for expected, (index, hashed, data) in enumerate(leaves, start=size):
                if index != expected:
                    report.problems.append(f"leaf {expected}: missing from the log")
                    return report
                if data is not None and merkle.leaf_hash(data) != hashed:
                    report.problems.append(f"leaf {index}: its content does not hash to its leaf hash")
                    return report
                hashes.append(hashed)
            if len(hashes) != end - size:
                report.problems.append(f"leaf {size + len(hashes)}: missing from the log")
                return report
            made = merkle.new_nodes(size, edge, hashes)
            stored = await _stored_nodes(session, made)
            for node in sorted(made):  # lowest level first: the mismatch nearest the damage
                if stored.get(node) != made[node]:
                    what = "missing" if node not in stored else "does not match its leaves"
                    report.problems.append(f"node (level {node[0]}, index {node[1]}) covering leaf "
                                           f"{node[1] << node[0]}: {what}")
                    return report
            size = end
            known = {**edge, **made}
            edge = {node: known[node] for node in merkle.root_plan(size)}
        roots[size] = merkle.fold([edge[n] for n in merkle.root_plan(size)]) if size else merkle.EMPTY_ROOT
    report.leaves = size
    extra = await session.scalar(select(LogLeaf.leaf_index).where(LogLeaf.leaf_index >= last_size).limit(1))
    if extra is not None:
        report.problems.append(f"leaf {extra}: integrated but under no signed tree head")
        return report
    previous: TreeHead | None = None
    for head in heads:
        try:
            verify_head(head, public_keys, origin)
        except LogVerificationError as error:
            report.problems.append(f"tree head {head.size}: {error}")
            return report
        if head.root != roots[head.size]:
            report.problems.append(f"tree head {head.size}: its root is not the root of the log's first "
                                   f"{head.size} leaves")
            return report
        if previous is not None:
            proof = await consistency_proof(session, previous.size, head.size)
            if not merkle.verify_consistency(previous.size, head.size, proof, previous.root, head.root):
                report.problems.append(f"tree head {head.size}: not consistent with tree head {previous.size}")
                return report
        previous = head
    return report

