"""The log's storage on both databases: pending leaves, batched integration, signed heads, proofs, purge."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.platform.db import create_session_factory
from api.platform.errors import ErrorCode, PortalError
from api.records import log, merkle
from api.records.audit import audit_log
from api.records.client import verify_head
from api.records.models import LogLeaf, LogNode, TreeHeadRow
from api.records.signing import LogSigner

SIGNER = LogSigner(((2, bytes(range(32))), (1, bytes(range(1, 33)))))


def record(i: int) -> bytes:
    return f'{{"exchange":{i},"item":"住民票関係情報"}}'.encode()


async def test_a_queued_leaf_has_no_index_until_the_sequencer_integrates_it(session: AsyncSession) -> None:
    ids = [await log.queue_leaf(session, record(i)) for i in range(3)]
    assert await log.pending_count(session) == 3
    assert await log.leaf_proof(session, ids[0]) is None
    assert await log.latest_tree_head(session) is None

    head = await log.integrate(session, SIGNER)
    assert head is not None and head.size == 3 and head.key_generation == 2
    assert head.root == merkle.root_of([merkle.leaf_hash(record(i)) for i in range(3)])
    verify_head(head, SIGNER.public_keys())
    assert await log.latest_tree_head(session) == head
    assert await log.pending_count(session) == 0
    assert await log.integrate(session, SIGNER) is None  # nothing pending: no new head
    assert await session.scalar(select(func.count()).select_from(TreeHeadRow)) == 1

    proof = await log.leaf_proof(session, ids[2])
    assert proof is not None and (proof.index, proof.head) == (2, head)
    assert merkle.verify_inclusion(merkle.leaf_hash(record(2)), 2, 3, proof.proof, head.root)


async def test_a_verified_proof_is_checked_as_a_client_checks_it(session: AsyncSession) -> None:
    ids = [await log.queue_leaf(session, record(i)) for i in range(5)]
    assert await log.verified_leaf_proof(session, ids[3], SIGNER.public_keys()) is None  # pending
    head = await log.integrate(session, SIGNER)
    found = await log.verified_leaf_proof(session, ids[3], SIGNER.public_keys())
    assert found is not None and (found.index, found.head) == (3, head)
    with pytest.raises(log.ProofDoesNotVerify, match="not signed by its key"):
        await log.verified_leaf_proof(session, ids[3], LogSigner(((2, bytes(32)),)).public_keys())
    # A stored node changed under the head: the path no longer leads to the signed root.
    await session.execute(LogNode.__table__.update().where(LogNode.level == 0, LogNode.node_index == 2)
                          .values(hash=bytes(32)))
    with pytest.raises(log.ProofDoesNotVerify, match="inclusion proof of leaf 3"):
        await log.verified_leaf_proof(session, ids[3], SIGNER.public_keys())


async def test_batches_build_one_append_only_tree_with_verifiable_proofs(session: AsyncSession) -> None:
    for i in range(37):
        await log.queue_leaf(session, record(i))
    heads = []
    while (head := await log.integrate(session, SIGNER, batch_size=5)) is not None:
        heads.append(head)
    assert [h.size for h in heads] == [5, 10, 15, 20, 25, 30, 35, 37]
    hashes = [merkle.leaf_hash(record(i)) for i in range(37)]
    for head in heads:
        assert head.root == merkle.root_of(hashes[:head.size])
        for index in range(head.size):
            proof = await log.inclusion_proof(session, index, head.size)
            assert merkle.verify_inclusion(hashes[index], index, head.size, proof, head.root)
    for first in heads:
        for second in heads:
            if first.size <= second.size:
                proof = await log.consistency_proof(session, first.size, second.size)
                assert merkle.verify_consistency(first.size, second.size, proof, first.root, second.root)
    # Every perfect subtree is stored once: 2n - popcount(n) nodes.
    assert await session.scalar(select(func.count()).select_from(LogNode)) == 2 * 37 - bin(37).count("1")


async def test_an_inclusion_proof_is_one_statement_reading_at_most_two_log2_n_nodes(session: AsyncSession) -> None:
    for i in range(100):
        await log.queue_leaf(session, record(i))
    await log.integrate(session, SIGNER)
    statements: list[str] = []
    parameters: list[object] = []
    sync_engine = session.bind.engine  # the test's connection: its engine (sync side)

    def seen(_conn, _cursor, statement, params, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)
        parameters.append(params)

    event.listen(sync_engine, "before_cursor_execute", seen)
    try:
        proof = await log.inclusion_proof(session, 70, 100)
    finally:
        event.remove(sync_engine, "before_cursor_execute", seen)
    queries = [s for s in statements if not s.startswith("BEGIN")]  # SQLite's own BEGIN IMMEDIATE
    if session.bind.dialect.name == "sqlite":
        assert len(queries) == 1 and "FROM log_nodes" in queries[0]
        # By the primary key, never a scan of the table (a row-value IN (VALUES …) would scan it).
        plan = (await (await session.connection()).exec_driver_sql(
            "EXPLAIN QUERY PLAN " + queries[0], parameters[statements.index(queries[0])])).all()
        details = [row[-1] for row in plan]
        assert not any(d.startswith("SCAN log_nodes") for d in details), details
        assert any(d.startswith("SEARCH log_nodes USING INDEX") for d in details), details
    else:  # the one read goes to psycopg directly, past SQLAlchemy's events
        assert queries == []
    assert len(merkle.nodes_of(merkle.inclusion_plan(70, 100))) <= 2 * 7
    assert len(proof) == 7


async def test_proofs_outside_the_signed_log_are_refused_with_a_code(session: AsyncSession) -> None:
    for i in range(4):
        await log.queue_leaf(session, record(i))
    await log.integrate(session, SIGNER)
    await log.queue_leaf(session, record(4))  # pending: not under any head yet
    for call, field in ((log.inclusion_proof(session, 0, 5), "treeSize"),
                        (log.inclusion_proof(session, 4, 4), "index"),
                        (log.inclusion_proof(session, 0, 0), "treeSize"),
                        (log.consistency_proof(session, 1, 5), "size2"),
                        (log.consistency_proof(session, 3, 2), "size1")):
        with pytest.raises(PortalError) as raised:
            await call
        assert (raised.value.code, raised.value.extensions) == (ErrorCode.VALUE_OUT_OF_RANGE, {"field": field})
    with pytest.raises(PortalError) as missing:
        await log.leaf_proof(session, 10**9)
    assert missing.value.code == ErrorCode.NOT_FOUND


async def test_purge_erases_content_but_never_the_leaf(session: AsyncSession) -> None:
    ids = [await log.queue_leaf(session, record(i)) for i in range(9)]
    head = await log.integrate(session, SIGNER)
    assert head is not None
    before = [await log.inclusion_proof(session, i, 9) for i in range(9)]

    assert await log.erase_leaf_content(session, ids[:4]) == 4
    assert await log.erase_leaf_content(session, ids[:4]) == 0  # already erased
    rows = (await session.execute(select(LogLeaf).order_by(LogLeaf.id))).scalars().all()
    assert [r.leaf_data is None for r in rows] == [True] * 4 + [False] * 5
    assert all(r.content_erased_at is not None for r in rows[:4])
    assert [r.leaf_hash for r in rows] == [merkle.leaf_hash(record(i)) for i in range(9)]
    assert [await log.inclusion_proof(session, i, 9) for i in range(9)] == before
    assert await log.latest_tree_head(session) == head
    report = await audit_log(session, SIGNER.public_keys())
    assert (report.ok, report.leaves, report.heads) == (True, 9, 1)

    await log.queue_leaf(session, record(9))  # the log keeps growing after a purge
    grown = await log.integrate(session, SIGNER)
    assert grown is not None
    assert merkle.verify_consistency(9, 10, await log.consistency_proof(session, 9, 10), head.root, grown.root)


async def test_writers_append_while_the_sequencer_runs(engine: AsyncEngine) -> None:
    # Four writers commit 40 leaves each, one transaction per leaf, while a sequencer integrates in rounds:
    # nobody waits on a shared row, every leaf gets exactly one index, and the log audits clean.
    sessions = create_session_factory(engine)
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(40):
            async with sessions() as session, session.begin():
                await log.queue_leaf(session, record(w * 1000 + i))

    async def sequencer() -> None:
        while True:
            async with sessions() as session:
                head = await log.integrate(session, SIGNER, batch_size=16)
            if head is None and done.is_set():
                return
            await asyncio.sleep(0.001)

    runner = asyncio.create_task(sequencer())
    await asyncio.gather(*(writer(w) for w in range(4)))
    done.set()
    await runner
    async with sessions() as session:
        indexes = sorted((await session.execute(select(LogLeaf.leaf_index))).scalars())
        assert indexes == list(range(160))
        head = await log.latest_tree_head(session)
        assert head is not None and head.size == 160
        report = await audit_log(session, SIGNER.public_keys())
        assert report.ok, report.problems
        assert report.heads > 1


async def test_two_sequencers_at_once_take_turns(engine: AsyncEngine) -> None:
    # A second sequencer (a restart overlapping the old one) waits for the first: no index is given twice, no
    # head is signed twice for a size, and the log audits clean.
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for i in range(300):
            await log.queue_leaf(session, record(i))

    async def sequencer() -> list[int]:
        sizes = []
        while True:
            async with sessions() as session:
                head = await log.integrate(session, SIGNER, batch_size=7)
            if head is None:
                return sizes
            sizes.append(head.size)

    first, second = await asyncio.gather(sequencer(), sequencer())
    assert sorted(first + second) == [*range(7, 300, 7), 300]
    async with sessions() as session:
        assert sorted((await session.execute(select(LogLeaf.leaf_index))).scalars()) == list(range(300))
        assert (await audit_log(session, SIGNER.public_keys())).ok
