"""The exchange-record log's storage: append, the batching sequencer, tree heads and proofs.

Appending is cheap and never contended: ``queue_leaf`` inserts a pending leaf in the writer's own transaction
(no index, no tree update, no shared row). The sequencer (``integrate``, run by ``mynaportal records
sequence``) takes the pending leaves in queue order, gives them consecutive indexes, stores the subtrees they
complete and signs the new tree head, all in one transaction, as Trillian and Tessera do. A leaf's proof
exists once a round has integrated it (README: how long that takes).

One sequencer at a time extends the tree: a transaction-level advisory lock on PostgreSQL, the write lock
SQLite's BEGIN IMMEDIATE takes on SQLite. Pending rows are taken FOR UPDATE SKIP LOCKED so a purge or a
slow writer's row does not block a round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError
from api.records import merkle
from api.records.client import HeadSignatureInvalid, TreeHead, verify_head
from api.records.merkle import Node
from api.records.models import LogLeaf, LogNode, TreeHeadRow
from api.records.signing import LogSigner

DEFAULT_BATCH = 4096
_SEQUENCER_LOCK = 0x6D6C6F67  # "mlog": pg_advisory_xact_lock key of the one sequencer
_leaves, _nodes, _heads = LogLeaf.__table__, LogNode.__table__, TreeHeadRow.__table__
_SET_INDEX = (update(_leaves).where(_leaves.c.id == bindparam("leaf_id"))
              .values(leaf_index=bindparam("new_index"), integrated_at=bindparam("now")))
# PostgreSQL: one statement for the whole batch (an UPDATE per leaf costs a round trip each).
_SET_INDEXES_PG = text("UPDATE log_leaves SET leaf_index = v.new_index, integrated_at = :now "
                       "FROM unnest(CAST(:ids AS bigint[]), CAST(:indexes AS bigint[])) AS v(leaf_id, new_index) "
                       "WHERE log_leaves.id = v.leaf_id")
_NODES_PG = ("SELECT level, node_index, hash FROM log_nodes WHERE (level, node_index) IN "
             "(SELECT * FROM unnest(%s::smallint[], %s::bigint[]))")


@dataclass(frozen=True, slots=True)
class LeafProof:
    """What the app gets with a record: where its leaf is, the signed head and the path to that head's root."""
    leaf_id: int
    index: int
    leaf_hash: bytes
    head: TreeHead
    proof: list[bytes]


async def queue_leaf(session: AsyncSession, leaf_data: bytes) -> int:
    """Append a record's canonical bytes to the log, pending, in the caller's transaction; its leaf id."""
    statement = insert(_leaves).values(leaf_hash=merkle.leaf_hash(leaf_data), leaf_data=leaf_data,
                                       queued_at=utcnow()).returning(_leaves.c.id)
    return (await session.execute(statement)).scalar_one()


def _head(row: TreeHeadRow) -> TreeHead:
    return TreeHead(row.size, row.root_hash, row.timestamp_ms, row.key_generation, row.signature)


async def latest_tree_head(session: AsyncSession) -> TreeHead | None:
    row = await session.scalar(select(TreeHeadRow).order_by(TreeHeadRow.size.desc()).limit(1))
    return _head(row) if row is not None else None


async def tree_head(session: AsyncSession, size: int) -> TreeHead | None:
    row = await session.get(TreeHeadRow, size)
    return _head(row) if row is not None else None


async def fetch_nodes(session: AsyncSession, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of these perfect subtrees (those that exist), in one indexed read."""
    wanted = list(nodes)
    if not wanted:
        return {}
    if session.bind.dialect.name == "postgresql":
        # The hot read of every proof: on the session's own connection and transaction, straight to psycopg with
        # one statement text for any number of nodes (prepared by the server after a few runs). SQLAlchemy's
        # execution adds ~1 ms to a 0.2 ms query here (bench_merkle_log.py).
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        cursor = await driver.execute(_NODES_PG, ([level for level, _ in wanted], [index for _, index in wanted]))
        return {(level, index): value for level, index, value in await cursor.fetchall()}
    # SQLite scans the table for a row-value IN (VALUES …); an OR of point conditions is a MULTI-INDEX OR.
    condition = or_(*(and_(_nodes.c.level == level, _nodes.c.node_index == index) for level, index in wanted))
    rows = await session.execute(select(_nodes.c.level, _nodes.c.node_index, _nodes.c.hash).where(condition))
    return {(level, index): value for level, index, value in rows}


async def _current_size(session: AsyncSession) -> int:
    return await session.scalar(select(func.coalesce(func.max(_heads.c.size), 0))) or 0


async def integrate(session: AsyncSession, signer: LogSigner, *, batch_size: int = DEFAULT_BATCH,
                    now: datetime | None = None) -> TreeHead | None:
    """One sequencer round, committed: the new signed head, or None when nothing was pending."""
    postgres = session.bind.dialect.name == "postgresql"
    if postgres:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEQUENCER_LOCK})
    pending = (await session.execute(
        select(_leaves.c.id, _leaves.c.leaf_hash).where(_leaves.c.leaf_index.is_(None))
        .order_by(_leaves.c.id).limit(batch_size).with_for_update(skip_locked=True))).all()
    if not pending:
        await session.commit()
        return None
    size = await _current_size(session)
    plan = merkle.root_plan(size)
    edge = _complete(await fetch_nodes(session, plan), set(plan))
    made = merkle.new_nodes(size, edge, [row.leaf_hash for row in pending])
    new_size = size + len(pending)
    known = {**edge, **made}
    root = merkle.fold([known[node] for node in merkle.root_plan(new_size)])
    now = now or utcnow()
    if postgres:
        await session.execute(_SET_INDEXES_PG, {"now": now, "ids": [row.id for row in pending],
                                                "indexes": list(range(size, new_size))})
    else:
        await session.execute(_SET_INDEX, [{"leaf_id": row.id, "new_index": size + offset, "now": now}
                                           for offset, row in enumerate(pending)])
    await session.execute(insert(_nodes), [{"level": level, "node_index": index, "hash": value}
                                           for (level, index), value in made.items()])
    head = signer.sign(new_size, root)
    await session.execute(insert(_heads).values(
        size=head.size, root_hash=head.root, timestamp_ms=head.timestamp_ms, key_generation=head.key_generation,
        signature=head.signature, signed_at=now))
    await session.commit()
    return head


def _out_of_range(message: str, field: str) -> PortalError:
    return PortalError(ErrorCode.VALUE_OUT_OF_RANGE, message, extensions={"field": field})


async def inclusion_proof(session: AsyncSession, index: int, tree_size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``tree_size`` leaves (RFC 9162 §2.1.3.1)."""
    if tree_size < 1:
        raise _out_of_range("no signed tree head covers that size", "treeSize")
    if not 0 <= index < tree_size:
        raise _out_of_range("the leaf is not in a tree of that size", "index")
    return await _proof(session, merkle.inclusion_plan(index, tree_size), tree_size, "treeSize")


async def consistency_proof(session: AsyncSession, size1: int, size2: int) -> list[bytes]:
    """The proof that the tree of ``size2`` leaves extends the one of ``size1`` (RFC 9162 §2.1.4.1)."""
    if not 0 <= size1 <= size2:
        raise _out_of_range("the first size must be between 0 and the second", "size1")
    return await _proof(session, merkle.consistency_plan(size1, size2), size2, "size2")


async def _proof(session: AsyncSession, plan: merkle.Plan, size: int, field: str) -> list[bytes]:
    """One read: the plan's nodes and the last leaf of ``size``, whose presence shows a signed head covers it
    (leaves get nodes and their head in one transaction), so no second query asks for the log's size."""
    last = (0, size - 1)
    found = await fetch_nodes(session, merkle.nodes_of(plan) | ({last} if size else set()))
    if size and last not in found:
        raise _out_of_range("no signed tree head covers that size", field)
    return merkle.assemble(plan, _complete(found, merkle.nodes_of(plan)))


def _complete(found: dict[Node, bytes], wanted: set[Node]) -> dict[Node, bytes]:
    """Nodes that must exist: a hole in the tree is damage, not a client mistake (the auditor names it)."""
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"log nodes missing: {sorted(missing)[:5]}")
    return found


async def leaf_proof(session: AsyncSession, leaf_id: int, head: TreeHead | None = None) -> LeafProof | None:
    """A record's leaf with its inclusion proof to ``head`` (default the latest); None while still pending."""
    row = (await session.execute(select(_leaves.c.leaf_index, _leaves.c.leaf_hash)
                                 .where(_leaves.c.id == leaf_id))).one_or_none()
    if row is None:
        raise PortalError(ErrorCode.NOT_FOUND, "no such log leaf")
    head = head or await latest_tree_head(session)
    if row.leaf_index is None or head is None or row.leaf_index >= head.size:
        return None
    proof = await _proof(session, merkle.inclusion_plan(row.leaf_index, head.size), head.size, "treeSize")
    return LeafProof(leaf_id, row.leaf_index, row.leaf_hash, head, proof)


class ProofDoesNotVerify(Exception):
    """The log's own answer fails verification: the log is damaged or tampered with (run `records audit`)."""


async def verified_leaf_proof(session: AsyncSession, leaf_id: int, public_keys: Mapping[int, bytes]
                              ) -> LeafProof | None:
    """The leaf's proof to the latest head, checked as a client checks it (the head's signature, then the path);
    None while the leaf is pending. Raises ``ProofDoesNotVerify``."""
    found = await leaf_proof(session, leaf_id)
    if found is None:
        return None
    try:
        verify_head(found.head, public_keys)
    except HeadSignatureInvalid as error:
        raise ProofDoesNotVerify(str(error)) from None
    if not merkle.verify_inclusion(found.leaf_hash, found.index, found.head.size, found.proof, found.head.root):
        raise ProofDoesNotVerify(f"the inclusion proof of leaf {found.index} does not lead to the signed root")
    return found


async def leaf_proofs(session: AsyncSession, leaf_ids: Sequence[int]) -> dict[int, LeafProof]:
    """Each integrated leaf's proof to the one latest signed head (pending leaves are left out)."""
    head = await latest_tree_head(session)
    if head is None or not leaf_ids:
        return {}
    found: dict[int, LeafProof] = {}
    for leaf_id in dict.fromkeys(leaf_ids):
        proof = await leaf_proof(session, leaf_id, head)
        if proof is not None:
            found[leaf_id] = proof
    return found


async def erase_leaf_content(session: AsyncSession, leaf_ids: Sequence[int], *, now: datetime | None = None) -> int:
    """The purge: forget the records' bytes, keep their leaf hashes (the tree and every proof stay valid)."""
    if not leaf_ids:
        return 0
    result = await session.execute(update(_leaves).where(_leaves.c.id.in_(list(leaf_ids)),
                                                         _leaves.c.leaf_data.is_not(None))
                                   .values(leaf_data=None, content_erased_at=now or utcnow()))
    return result.rowcount or 0


async def pending_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(_leaves).where(_leaves.c.leaf_index.is_(None))) or 0
