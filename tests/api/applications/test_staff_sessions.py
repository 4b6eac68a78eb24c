"""The staff inbox's session purge (api.applications.staff_sessions.purge): what was idle for 30 minutes goes, in
batches, on both databases. (Signing in, resuming and signing out: tests/api/web/test_staff.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.applications.staff_sessions import IDLE, StaffWebSession, purge
from api.platform.db import create_session_factory

NOW = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


async def test_the_purge_deletes_exactly_the_idle_sessions(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        for label, seen in (("idle-1", NOW - IDLE), ("idle-2", NOW - IDLE - S), ("idle-3", NOW - 2 * IDLE),
                            ("active", NOW - IDLE + S), ("now", NOW)):
            session.add(StaffWebSession(id_hash=label.encode().ljust(32, b"."), credential_hash=b"c" * 32,
                                        csrf=label, created_at=seen, last_seen_at=seen))
    assert await purge(factory, now=NOW, batch=2) == 3
    async with factory() as session:
        assert sorted(await session.scalars(select(StaffWebSession.csrf))) == ["active", "now"]
    assert await purge(factory, now=NOW, batch=2) == 0


async def test_the_purge_refuses_a_batch_below_one(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="batch"):
        await purge(create_session_factory(engine), now=NOW, batch=0)
