from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, bindparam, delete, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import RawSelect, UTCDateTime, create_session_factory, reader_for
from api.people.models import Municipality, Person, Sex


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


async def test_an_inline_read_sees_what_was_committed_since_the_last_one(engine: AsyncEngine) -> None:
    reader = reader_for(engine)
    count = select(func.count()).select_from(Municipality)
    assert await reader.run(lambda c: c.execute(count).scalar(), inline=True) == 0
    async with create_session_factory(engine)() as session, session.begin():
        session.add(Municipality(code="131016", prefecture="東京都", name="千代田区"))
    assert await reader.run(lambda c: c.execute(count).scalar(), inline=True) == 1


async def _add_person(engine: AsyncEngine) -> Person:
    person = Person(id=uuid.uuid4(), name="山田 太郎", name_kana="ヤマダ タロウ", birth_date=date(1985, 4, 1),
                    sex=Sex.MALE, address="東京都千代田区1-1", municipality_code="131016", email=None,
                    phone="090", individual_number_ciphertext=b"\x01" * 40, individual_number_hash=b"\x02" * 32,
                    created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    async with create_session_factory(engine)() as session, session.begin():
        session.add(Municipality(code="131016", prefecture="東京都", name="千代田区"))
        session.add(person)
    return person


PERSON_BY_NAME = RawSelect(select(*Person.__table__.c).where(Person.name == bindparam("name")))


@pytest.mark.parametrize("inline", [False, True])
async def test_raw_select_returns_the_values_the_orm_returns_and_fires_cursor_events(
    engine: AsyncEngine, inline: bool
) -> None:
    person = await _add_person(engine)
    reader = reader_for(engine)
    seen: list[str] = []

    def listen(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    for sync_engine in reader.sync_engines:
        event.listen(sync_engine, "before_cursor_execute", listen)
    try:
        rows = await reader.run(lambda c: PERSON_BY_NAME.rows(c, {"name": "山田 太郎"}), inline=inline)
        missing = await reader.run(lambda c: PERSON_BY_NAME.first(c, {"name": "nobody"}), inline=inline)
    finally:
        for sync_engine in reader.sync_engines:
            event.remove(sync_engine, "before_cursor_execute", listen)
    assert rows == [(person.id, "山田 太郎", "ヤマダ タロウ", date(1985, 4, 1), Sex.MALE, "東京都千代田区1-1",
                     "131016", None, "090", b"\x01" * 40, b"\x02" * 32, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))]
    assert [column.key for column in Person.__table__.c] == [
        "id", "name", "name_kana", "birth_date", "sex", "address", "municipality_code", "email", "phone",
        "individual_number_ciphertext", "individual_number_hash", "created_at"]
    assert missing is None
    assert len(seen) == 2 and seen[0].lstrip().upper().startswith("SELECT")


@pytest.mark.postgres
async def test_the_postgres_reader_runs_again_on_a_connection_the_server_closed(
    engine: AsyncEngine, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    reader = reader_for(engine)
    count = select(func.count()).select_from(Municipality)
    raw_count = RawSelect(count.where(Municipality.code != bindparam("code")))
    assert await reader.run(lambda c: c.execute(count).scalar()) == 0
    assert await reader.rows(raw_count, {"code": "x"}) == [(0,)]
    async with engine.connect() as connection:  # end every other session on this database
        ended = await connection.scalar(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    assert ended >= 1  # the hot-read connection (the engine here opens one per use)
    assert await reader.run(lambda c: c.execute(count).scalar()) == 0
    assert await reader.rows(raw_count, {"code": "x"}) == [(0,)]
