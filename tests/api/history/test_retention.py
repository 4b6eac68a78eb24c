from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.exchange.models import ExchangeRecord
from api.exchange.record import exchange_record_leaf
from api.history.retention import (
    add_months,
    create_month,
    is_partitioned,
    months,
    partition_name,
    purge,
    retention_cutoff,
)
from api.people.individual_number import IndividualNumberCipher
from api.platform.access_records import AccessRecord
from api.platform.db import create_session_factory
from api.records.log import queue_leaf
from api.records.models import LogLeaf
from tests.api.history.helpers import add_access, add_exchange, make_family

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def test_the_cutoff_is_seven_years_back() -> None:
    assert retention_cutoff(NOW) == datetime(2019, 12, 5, 3, 0, tzinfo=UTC)
    assert retention_cutoff(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2021, 2, 28, tzinfo=UTC)
    assert add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)


async def test_purge_removes_what_is_older_than_seven_years_and_keeps_the_rest(
        engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    cutoff = retention_cutoff(NOW)
    async with factory() as session, session.begin():
        family = await make_family(session, cipher)
        ancient = await add_exchange(session, family.father, family.city, family.pension,
                                     datetime(2019, 10, 20, tzinfo=UTC))  # a whole month past 7 years
        boundary_old = await add_exchange(session, family.father, family.city, family.pension,
                                          cutoff - timedelta(hours=1))
        boundary_kept = await add_exchange(session, family.father, family.city, family.pension,
                                           cutoff + timedelta(hours=1))
        recent = await add_exchange(session, family.father, family.city, family.pension, NOW - timedelta(days=1))
        old_read = await add_access(session, family.father, cutoff - timedelta(days=1), actor=family.mother)
        new_read = await add_access(session, family.father, NOW, actor=family.mother)
        for record in (ancient, boundary_old, boundary_kept, recent):  # as the hub does (tests/api/exchange)
            record.log_leaf_id = await queue_leaf(session, exchange_record_leaf(record))
    leaves = {record.id: record.log_leaf_id for record in (ancient, boundary_old, boundary_kept, recent)}
    del old_read
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        async with engine.begin() as connection:
            assert await is_partitioned(connection)
            # The rows sit in the default partition; months made for them take them (as the migration makes the
            # months of the rows a table had).
            for month in (date(2019, 10, 1), date(2019, 12, 1)):
                assert await create_month(connection, month)
    report = await purge(engine, now=NOW, batch=1)
    async with factory() as session:
        assert set(await session.scalars(select(ExchangeRecord.id))) == {boundary_kept.id, recent.id}
        assert set(await session.scalars(select(AccessRecord.id))) == {new_read.id}
    assert report.access_rows == 1
    async with factory() as session:
        kept_content = dict((await session.execute(select(LogLeaf.id, LogLeaf.leaf_data.is_not(None)))).all())
    # Purged records' content leaves the log; every leaf stays (the log is append-only).
    assert kept_content == {leaves[ancient.id]: False, leaves[boundary_old.id]: False,
                            leaves[boundary_kept.id]: True, leaves[recent.id]: True}
    if postgres:
        assert "exchange_records_y2019m10" in report.dropped_partitions
        assert report.exchange_rows == 1  # the boundary month's old row; October 2019 went with its table
        async with engine.connect() as connection:
            kept = await months(connection)
            assert date(2019, 10, 1) not in kept and add_months(date(2026, 12, 1), 3) in kept
            assert await connection.scalar(text("SELECT to_regclass('exchange_records_y2019m10')")) is None
    else:
        assert (report.dropped_partitions, report.exchange_rows) == ([], 2)
    again = await purge(engine, now=NOW)
    assert (again.dropped_partitions, again.created_partitions, again.exchange_rows, again.access_rows) == (
        [], [], 0, 0)


async def test_a_month_made_later_takes_its_rows_from_the_default_partition(
        engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    if engine.dialect.name != "postgresql":
        return
    factory = create_session_factory(engine)
    far = datetime(2031, 5, 3, tzinfo=UTC)  # beyond the months made ahead: lands in the default partition
    async with factory() as session, session.begin():
        family = await make_family(session, cipher)
        row = await add_exchange(session, family.father, family.city, family.pension, far)
    report = await purge(engine, now=datetime(2031, 4, 1, tzinfo=UTC))
    assert partition_name(date(2031, 5, 1)) in report.created_partitions
    async with engine.connect() as connection:
        where = await connection.scalar(text("SELECT tableoid::regclass::text FROM exchange_records WHERE id = :id"),
                                        {"id": row.id})
    assert where == "exchange_records_y2031m05"
