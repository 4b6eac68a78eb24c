"""The batch-by-batch import, in any file order: each batch staged, its new states added, `latest`
recomputed for its numbers, in one transaction (see importer)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from api.platform.db import UTCDateTime
from corporate.import_rows import STAGED_COLUMN_LIST, STAGED_COLUMNS

BUSY_RETRIES = 40
STAGING = "corporate_import_batch"

# The SQL below is built from module constants only (column and table names), never from input.
_INSERT_NEW = text(
    f"INSERT INTO corporations ({STAGED_COLUMN_LIST}, latest, imported_at) "  # noqa: S608
    f"SELECT {STAGED_COLUMN_LIST}, false, :now FROM {STAGING} WHERE true "
    "ON CONFLICT (corporate_number, record_hash) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()))


def update_latest(numbers: str) -> list[str]:
    """Set `latest` for the corporate numbers the subquery `numbers` yields: two UPDATEs, the states that
    stop being latest first, then those that become it (never two latest states of a number at once).

    Only rows whose flag changes are written; the newest state wins by (update date, sequence number, id).
    """
    newest = (
        "(SELECT id, corporate_number FROM (SELECT id, corporate_number, row_number() OVER ("  # noqa: S608
        "PARTITION BY corporate_number ORDER BY update_date DESC, sequence_number DESC, id DESC) AS position "
        f"FROM corporations WHERE corporate_number IN ({numbers})) AS ranked WHERE position = 1) AS newest"
    )
    return [
        f"UPDATE corporations SET latest = false FROM {newest} "  # noqa: S608
        "WHERE corporations.corporate_number = newest.corporate_number AND corporations.latest "
        "AND corporations.id <> newest.id",
        f"UPDATE corporations SET latest = true FROM {newest} "  # noqa: S608
        "WHERE corporations.id = newest.id AND NOT corporations.latest",
    ]


_UPDATE_LATEST = [text(statement) for statement in update_latest(f"SELECT corporate_number FROM {STAGING}")]  # noqa: S608


async def prepare_staging(connection: AsyncConnection) -> None:
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("PRAGMA temp_store=MEMORY")
    await connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} AS SELECT {STAGED_COLUMN_LIST} FROM corporations "  # noqa: S608
        "WHERE 1 = 0")
    await connection.commit()


async def _stage(connection: AsyncConnection, rows: list[list[Any]]) -> None:
    await connection.exec_driver_sql(f"DELETE FROM {STAGING}")  # noqa: S608
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        async with cursor.copy(f"COPY {STAGING} ({STAGED_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        return
    placeholders = ", ".join("?" * len(STAGED_COLUMNS))
    insert = f"INSERT INTO {STAGING} ({STAGED_COLUMN_LIST}) VALUES ({placeholders})"  # noqa: S608
    # Straight to the driver, in the transaction SQLAlchemy began: it takes the rows as they are (lists).
    raw = await connection.get_raw_connection()
    cursor = await raw.driver_connection.executemany(insert, rows)  # type: ignore[union-attr]
    await cursor.close()


def is_busy(connection: AsyncConnection, error: OperationalError) -> bool:
    return connection.dialect.name == "sqlite" and "locked" in str(error)


async def store_batch(connection: AsyncConnection, rows: list[list[Any]], now: datetime) -> int:
    """Store a batch in one transaction, retried while SQLite is busy; the number of new states."""
    for attempt in range(BUSY_RETRIES):
        try:
            async with connection.begin():
                await _stage(connection, rows)
                inserted = (await connection.execute(_INSERT_NEW, {"now": now})).rowcount
                for statement in _UPDATE_LATEST:
                    await connection.execute(statement)
            return inserted
        except OperationalError as error:
            # SQLite has one writer: a batch that read before another import committed gets "database is
            # locked" instead of waiting. The batch rolled back whole and is idempotent, so run it again.
            if not is_busy(connection, error) or attempt == BUSY_RETRIES - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
