"""The webhook replay guard in the database: once per id across guards (workers) and restarts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
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
