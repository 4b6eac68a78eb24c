from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import UTCDateTime, create_session_factory, reader_for
from api.people.models import Municipality


async def _read_then_write(engine: AsyncEngine, code: str) -> None:
    async with create_session_factory(engine)() as session, session.begin():
        await session.scalar(select(func.count()).select_from(Municipality))
        await asyncio.sleep(0.05)  # the other unit reads and writes meanwhile
        session.add(Municipality(code=code, prefecture="東京都", name=code))


async def test_concurrent_read_then_write_units_both_commit(engine: AsyncEngine) -> None:
    # With a deferred BEGIN, SQLite fails one of these at once with "database is locked".
    await asyncio.gather(_read_then_write(engine, "131016"), _read_then_write(engine, "131024"))
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Municipality)) == 2


async def test_a_read_only_session_runs_beside_a_writer(engine: AsyncEngine) -> None:
    writer = create_session_factory(engine)()
    await writer.begin()
    writer.add(Municipality(code="131016", prefecture="東京都", name="千代田区"))
    await writer.flush()  # holds the write lock, uncommitted
    try:
        async with create_session_factory(engine, read_only=True)() as reader:
            count = await asyncio.wait_for(reader.scalar(select(func.count()).select_from(Municipality)), 2)
        assert count == 0  # the uncommitted row is invisible, and the reader did not wait for the writer
    finally:
        await writer.rollback()
        await writer.close()


def test_utc_datetime_refuses_naive_values_and_normalises_to_utc() -> None:
    column = UTCDateTime()
    with pytest.raises(ValueError, match="naive datetime"):
        column.process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]
    tokyo = datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    assert column.process_bind_param(tokyo, None) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # type: ignore[arg-type]
    assert column.process_result_value(datetime(2026, 1, 1), None) == datetime(2026, 1, 1, tzinfo=UTC)  # type: ignore[arg-type]


@pytest.mark.parametrize("inline", [False, True])
async def test_reader_reads_committed_data_and_cannot_write(engine: AsyncEngine, inline: bool) -> None:
    async with create_session_factory(engine)() as session, session.begin():
        session.add(Municipality(code="131016", prefecture="東京都", name="千代田区"))
    reader = reader_for(engine)
    assert reader_for(engine) is reader
    names = await reader.run(lambda c: c.execute(select(Municipality.name)).scalars().all(), inline=inline)
    assert names == ["千代田区"]
    if engine.dialect.name == "sqlite":
        # query_only: a write through the reader fails and changes nothing
        with pytest.raises(OperationalError, match="readonly"):
            await reader.run(lambda c: c.execute(delete(Municipality)), inline=inline)
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Municipality)) == 1
