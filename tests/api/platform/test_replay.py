"""The webhook replay guard in the database: once per id across guards (workers) and restarts."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.platform.replay import DatabaseReplayGuard, WebhookReceipt, purge_receipts

NOW = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)


async def test_an_id_is_claimed_once_by_any_guard_and_again_after_its_window(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    worker, other_worker = DatabaseReplayGuard(factory, "gateway"), DatabaseReplayGuard(factory, "gateway")
    assert await worker.first_time("msg_1", NOW) is True
    assert await worker.first_time("msg_1", NOW) is False
    assert await other_worker.first_time("msg_1", NOW + dt.timedelta(seconds=599)) is False
    # A restarted worker is a new guard on the same table.
    assert await DatabaseReplayGuard(factory, "gateway").first_time("msg_1", NOW) is False
    assert await DatabaseReplayGuard(factory, "another-receiver").first_time("msg_1", NOW) is True
    # After the window (twice the signature's 300 s tolerance) the id may come again.
    assert await other_worker.first_time("msg_1", NOW + dt.timedelta(seconds=600)) is True
    assert await worker.first_time("msg_1", NOW + dt.timedelta(seconds=601)) is False


async def test_a_released_claim_lets_the_retry_through(engine: AsyncEngine) -> None:
    guard = DatabaseReplayGuard(create_session_factory(engine), "gateway")
    assert await guard.first_time("msg_2", NOW) is True
    await guard.release("msg_2")
    assert await guard.first_time("msg_2", NOW) is True
    assert await guard.first_time("msg_2", NOW) is False


async def test_closed_receipts_are_purged_in_batches(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    guard = DatabaseReplayGuard(factory, "gateway")
    for number in range(3):
        assert await guard.first_time(f"old_{number}", NOW - dt.timedelta(hours=1))
    assert await guard.first_time("fresh", NOW)
    async with factory() as session, session.begin():
        assert await purge_receipts(session, NOW, batch=2) == 2
        assert await purge_receipts(session, NOW, batch=2) == 1
        assert await purge_receipts(session, NOW, batch=2) == 0
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookReceipt)) == 1


async def test_a_claim_inside_a_transaction_lives_and_dies_with_it(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    guard = DatabaseReplayGuard(factory, "gateway")

    class Refused(Exception):
        pass

    try:
        async with factory() as session, session.begin():
            assert await guard.claim_in(session, "msg_3", NOW) is True
            raise Refused  # the work it guarded failed: the claim rolls back with it
    except Refused:
        pass
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookReceipt)) == 0
    async with factory() as session, session.begin():
        assert await guard.claim_in(session, "msg_3", NOW) is True
    assert await guard.first_time("msg_3", NOW) is False
    async with factory() as session, session.begin():
        assert await guard.claim_in(session, "msg_3", NOW + dt.timedelta(seconds=600)) is True  # window closed


async def test_concurrent_claims_of_one_id_in_transactions_have_one_winner(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)

    async def claim(worker: int) -> bool:
        for _ in range(50):  # SQLite's one writer: a busy claim tries again (PostgreSQL waits on the row instead)
            try:
                async with factory() as session, session.begin():
                    return await DatabaseReplayGuard(factory, "gateway").claim_in(session, "msg_4", NOW)
            except OperationalError:
                await asyncio.sleep(0.01 * (worker % 5 + 1))
        raise AssertionError("never got the database")

    assert sorted(await asyncio.gather(*(claim(worker) for worker in range(8)))) == [False] * 7 + [True]
