from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import bindparam, column, func, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from api.people.models import Municipality, Person, Sex
from api.platform.db import (
    POSTGRES_KEPT_CONNECTIONS,
    PointRead,
    UTCDateTime,
    create_engine,
    create_session_factory,
    dispose_engine,
    text_pairs,
)


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


async def _add_person(engine: AsyncEngine) -> Person:
    person = Person(id=uuid.uuid4(), name="山田 太郎", name_kana="ヤマダ タロウ", birth_date=date(1985, 4, 1),
                    sex=Sex.MALE, address="東京都千代田区1-1", municipality_code="131016", email=None,
                    phone="090", individual_number_ciphertext=b"\x01" * 40, individual_number_hash=b"\x02" * 32,
                    created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    async with create_session_factory(engine)() as session, session.begin():
        session.add(Municipality(code="131016", prefecture="東京都", name="千代田区"))
        session.add(person)
    return person


PERSON_BY_NAME = PointRead(select(*Person.__table__.c).where(Person.name == bindparam("name")))
MUNICIPALITIES = PointRead(select(func.count()).select_from(Municipality).where(Municipality.code != bindparam("code")))


async def test_a_point_read_returns_the_values_the_orm_returns(engine: AsyncEngine) -> None:
    person = await _add_person(engine)
    rows = await PERSON_BY_NAME.rows(engine, {"name": "山田 太郎"})
    assert rows == [(person.id, "山田 太郎", "ヤマダ タロウ", date(1985, 4, 1), Sex.MALE, "東京都千代田区1-1",
                     "131016", None, "090", b"\x01" * 40, b"\x02" * 32,
                     datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), 1, 1)]
    assert [column.key for column in Person.__table__.c] == [
        "id", "name", "name_kana", "birth_date", "sex", "address", "municipality_code", "email", "phone",
        "individual_number_ciphertext", "individual_number_hash", "created_at", "number_key_generation",
        "number_lookup_generation"]
    assert await PERSON_BY_NAME.first(engine, {"name": "nobody"}) is None


async def test_a_point_read_sees_what_was_committed_since_the_last_one(engine: AsyncEngine) -> None:
    assert await MUNICIPALITIES.rows(engine, {"code": "x"}) == [(0,)]
    async with create_session_factory(engine)() as session, session.begin():
        session.add(Municipality(code="131016", prefecture="東京都", name="千代田区"))
    assert await MUNICIPALITIES.rows(engine, {"code": "x"}) == [(1,)]


async def test_point_reads_keep_connections_of_the_engines_own_pool_until_it_is_disposed(database_url: str) -> None:
    engine = create_engine(database_url)
    pool = engine.sync_engine.pool
    try:
        await asyncio.gather(*(MUNICIPALITIES.rows(engine, {"code": "x"}) for _ in range(10)))
        kept = pool.checkedout()  # type: ignore[attr-defined]
        assert kept == (1 if engine.dialect.name == "sqlite" else POSTGRES_KEPT_CONNECTIONS)
        async with create_session_factory(engine)() as session:  # sessions share the pool beside them
            assert await session.scalar(select(func.count()).select_from(Municipality)) == 0
            assert pool.checkedout() == kept + 1  # type: ignore[attr-defined]
        for _ in range(10):
            await MUNICIPALITIES.rows(engine, {"code": "x"})
        assert pool.checkedout() == kept  # type: ignore[attr-defined]
    finally:
        await dispose_engine(engine)
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_failed_point_read_gives_its_connection_up(engine: AsyncEngine) -> None:
    assert await MUNICIPALITIES.rows(engine, {"code": "x"}) == [(0,)]
    missing_table = table("no_such_table", column("code"))
    missing = PointRead(select(missing_table.c.code).where(missing_table.c.code == bindparam("code")))
    with pytest.raises(Exception, match="no_such_table"):
        await missing.rows(engine, {"code": "x"})
    assert await MUNICIPALITIES.rows(engine, {"code": "x"}) == [(0,)]  # on a new connection


@pytest.mark.postgres
async def test_a_point_read_runs_again_on_a_connection_the_server_closed(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    for _ in range(POSTGRES_KEPT_CONNECTIONS):  # every kept connection has served a read
        assert await MUNICIPALITIES.rows(engine, {"code": "x"}) == [(0,)]
    async with engine.connect() as connection:  # end every other session on this database
        ended = await connection.scalar(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    assert ended >= POSTGRES_KEPT_CONNECTIONS
    for _ in range(POSTGRES_KEPT_CONNECTIONS):
        assert await MUNICIPALITIES.rows(engine, {"code": "x"}) == [(0,)]


def test_text_pairs_are_each_distinct_pair_of_adjacent_characters_as_hex_words() -> None:
    assert text_pairs("サビス\x1fサビス\x1f") == "e382b5e38393 e38393e382b9"  # once each; none across U+001F
    assert text_pairs("M&M") == "4d26 264d"
    assert text_pairs("AB\x1f\x1fCD") == "4142 4344"
    assert text_pairs("A") is None and text_pairs("") is None and text_pairs(None) is None
    assert text_pairs("\x1f\x1f") is None


async def test_sqlite_connections_have_text_pairs(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pairs.sqlite3'}")
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT text_pairs('サビ')")) == "e382b5e38393"
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout_without_a_ping(
        database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    engine = create_engine(database_url)  # the app's pooled engine, no pool_pre_ping
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as connection:  # an open, idle connection is lent again as it is
            assert await connection.scalar(text("SELECT pg_backend_pid()")) == first
        killer = create_engine(database_url, poolclass=NullPool)
        async with killer.connect() as other:
            assert await other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}) is True
        await dispose_engine(killer)
        await asyncio.sleep(0.2)  # the server's notice reaches the pooled connection's socket
        async with create_session_factory(engine)() as session:  # no error: a new connection was opened
            second = await session.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await dispose_engine(engine)
