"""The record's 7-year retention (やりとり履歴 keeps a rolling 7 years) and, on PostgreSQL, its month partitions.

On PostgreSQL ``exchange_records`` is partitioned by month of ``requested_at`` (migration 0016): one table per
month, ``exchange_records_y2026m12``, and a default partition for anything outside them. The purge drops a
month's table whole once all of it is older than 7 years (no row-by-row delete, no bloat) and deletes the old
rows of the default partition; it also makes the coming months' tables, so new rows never land in the default.
On SQLite the purge deletes old rows in batches. Access records (reads by proxies and staff) are deleted by rows
on both. The transparency log's leaves (api.records) are not touched: they never are deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.exchange.models import ExchangeRecord
from api.platform.access_records import AccessRecord
from api.records.log import erase_leaf_content

RETENTION_YEARS = 7
MONTHS_AHEAD = 3
TABLE = "exchange_records"
DEFAULT_PARTITION = f"{TABLE}_default"
QUERY_ID_UNIQUE = "uq_exchange_records_query_id"  # (query_id, requested_at) on PostgreSQL: see migration 0016
_PARTITION = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")


def is_partition(name: str | None) -> bool:
    """A partition's own table (the migrations', not the ORM's: comparisons leave them out)."""
    return name is not None and (name == DEFAULT_PARTITION or _PARTITION.match(name) is not None)


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def retention_cutoff(now: datetime) -> datetime:
    """Entries before this instant are past the 7 years (29 February falls back to the 28th)."""
    day = now.day if not (now.month == 2 and now.day == 29) else 28
    return now.replace(year=now.year - RETENTION_YEARS, day=day)


def _bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    nxt = add_months(month, 1)
    return start, datetime(nxt.year, nxt.month, 1, tzinfo=UTC)


async def create_month(connection: AsyncConnection, month: date) -> bool:
    """Make the month's partition if missing, moving any of its rows out of the default partition first
    (PostgreSQL refuses to attach a range the default partition holds rows of). True if made."""
    name = partition_name(month)
    if await connection.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
        return False
    start, end = _bounds(month)
    await connection.execute(text(f'CREATE TABLE "{name}" (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    moved = {"start": start, "end": end}
    await connection.execute(text(f'INSERT INTO "{name}" SELECT * FROM {DEFAULT_PARTITION} '  # noqa: S608 (module constants and computed names only)
                                  "WHERE requested_at >= :start AND requested_at < :end"), moved)
    await connection.execute(text(f"DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608 (module constants and computed names only)
                                  "WHERE requested_at >= :start AND requested_at < :end"), moved)
    await connection.execute(text(f'ALTER TABLE {TABLE} ATTACH PARTITION "{name}" '
                                  f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"))
    return True


async def months(connection: AsyncConnection) -> list[date]:
    rows = await connection.scalars(text(
        "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
        "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent WHERE parent.relname = :table"),
        {"table": TABLE})
    found = []
    for name in rows:
        matched = _PARTITION.match(name)
        if matched:
            found.append(date(int(matched[1]), int(matched[2]), 1))
    return sorted(found)


async def is_partitioned(connection: AsyncConnection) -> bool:
    return bool(await connection.scalar(text(
        "SELECT count(*) FROM pg_partitioned_table JOIN pg_class ON pg_class.oid = partrelid "
        "WHERE relname = :table"), {"table": TABLE}))


@dataclass(frozen=True)
class PurgeReport:
    dropped_partitions: list[str]
    created_partitions: list[str]
    exchange_rows: int
    access_rows: int


async def purge(engine: AsyncEngine, *, now: datetime, batch: int = 10_000) -> PurgeReport:
    """Remove what is older than 7 years; on PostgreSQL also make the next months' partitions."""
    cutoff = retention_cutoff(now)
    dropped: list[str] = []
    created: list[str] = []
    exchange_rows = 0
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            if await is_partitioned(connection):
                this_month = date(now.year, now.month, 1)
                for ahead in range(MONTHS_AHEAD + 1):
                    month = add_months(this_month, ahead)
                    if await create_month(connection, month):
                        created.append(partition_name(month))
                for month in await months(connection):
                    if _bounds(month)[1] <= cutoff:
                        name = partition_name(month)
                        leaves = (await connection.execute(text(
                            f'SELECT log_leaf_id FROM "{name}" WHERE log_leaf_id IS NOT NULL'  # noqa: S608 - our partition name
                        ))).scalars().all()
                        await erase_leaf_content(connection, leaves, now=now)  # type: ignore[arg-type]
                        await connection.execute(text(f'ALTER TABLE {TABLE} DETACH PARTITION "{name}"'))
                        await connection.execute(text(f'DROP TABLE "{name}"'))
                        dropped.append(name)
    exchange_rows = await _delete_batches(engine, ExchangeRecord, ExchangeRecord.requested_at, cutoff, batch)
    access_rows = await _delete_batches(engine, AccessRecord, AccessRecord.accessed_at, cutoff, batch)
    return PurgeReport(dropped, created, exchange_rows, access_rows)


async def _delete_batches(engine: AsyncEngine, model: type, column: object, cutoff: datetime, batch: int) -> int:
    # Short transactions: a purge never holds locks long against the writers of new entries.
    total = 0
    while True:
        async with engine.begin() as connection:
            ids = select(model.id).where(column < cutoff).limit(batch)  # type: ignore[attr-defined,operator]
            statement = delete(model).where(column < cutoff, model.id.in_(ids))  # type: ignore[attr-defined,operator]
            if model is ExchangeRecord:
                # The record's content leaves the transparency log too; its leaf stays (the log is append-only).
                leaves = (await connection.execute(statement.returning(ExchangeRecord.log_leaf_id))).scalars().all()
                deleted = len(leaves)
                await erase_leaf_content(connection,  # type: ignore[arg-type]
                                         [leaf for leaf in leaves if leaf is not None])
            else:
                deleted = (await connection.execute(statement)).rowcount
        total += deleted
        if deleted < batch:
            return total
