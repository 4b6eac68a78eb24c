"""Import of NTA full-data and daily-diff files: streaming, batched, idempotent, keeping history.

Each batch of rows goes to a temporary staging table (executemany on SQLite, COPY on PostgreSQL), then
one INSERT ... SELECT ... ON CONFLICT DO NOTHING keyed on (corporate number, state hash) adds the new
states, and one UPDATE recomputes `latest` for the numbers in the batch from (update date, sequence
number), so diff files may arrive in any order. A batch is one transaction: an interrupted import
leaves whole batches, and running it again adds only what is missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.db import UTCDateTime, utcnow
from corporate import records
from corporate.files import members, read_lines
from corporate.normalise import search_key

BATCH_SIZE = 5000
BUSY_RETRIES = 40
SAMPLE_REJECTIONS = 100
STAGING = "corporate_import_batch"
# Columns filled from a row, in staging order: the 30 fields but `latest`, then what we derive.
_FIELD_COLUMNS = tuple(column for column in records.COLUMNS if column != "latest")
STAGED_COLUMNS = (*_FIELD_COLUMNS, "record_hash", "search_name", "search_kana", "search_en", "search_text")
_FIELD_POSITIONS = tuple(position for position in range(30) if position != records.LATEST)
_COLUMN_LIST = ", ".join(STAGED_COLUMNS)

# The SQL below is built from module constants only (column and table names), never from input.
_INSERT_NEW = text(
    f"INSERT INTO corporations ({_COLUMN_LIST}, latest, imported_at) "  # noqa: S608
    f"SELECT {_COLUMN_LIST}, true, :now FROM {STAGING} WHERE true "
    "ON CONFLICT (corporate_number, record_hash) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()))
# Only rows whose flag changes are written; the newest state wins by (update date, sequence number, id).
_UPDATE_LATEST = text(
    "UPDATE corporations SET latest = (corporations.id = newest.id) "  # noqa: S608
    "FROM (SELECT id, corporate_number FROM (SELECT id, corporate_number, row_number() OVER ("
    "PARTITION BY corporate_number ORDER BY update_date DESC, sequence_number DESC, id DESC) AS position "
    f"FROM corporations WHERE corporate_number IN (SELECT corporate_number FROM {STAGING})) AS ranked "
    "WHERE position = 1) AS newest "
    "WHERE corporations.corporate_number = newest.corporate_number "
    "AND corporations.latest <> (corporations.id = newest.id)"
)


@dataclass(frozen=True)
class Rejection:
    source: str
    line: int
    reason: str


@dataclass
class ImportReport:
    rows_read: int = 0
    inserted: int = 0
    rejected: int = 0
    samples: list[Rejection] = field(default_factory=list)  # the first SAMPLE_REJECTIONS rejections
    seconds: float = 0.0

    @property
    def unchanged(self) -> int:
        """Valid rows already stored (the same state imported before)."""
        return self.rows_read - self.rejected - self.inserted


class Progress(Protocol):
    def start(self, total_bytes: int) -> None: ...
    def advance(self, rows: int, size: int) -> None: ...
    def finish(self) -> None: ...


def staged_row(values: tuple[str | None, ...]) -> tuple[Any, ...]:
    name_key = search_key(values[records.NAME])
    kana_key = search_key(values[records.FURIGANA])
    en_key = search_key(values[records.EN_NAME])
    return (*(values[position] for position in _FIELD_POSITIONS), records.record_hash(values),
            name_key, kana_key, en_key, f"{name_key}\x1f{kana_key}\x1f{en_key}")


async def _prepare_staging(connection: AsyncConnection) -> None:
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("PRAGMA temp_store=MEMORY")
    await connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} AS SELECT {_COLUMN_LIST} FROM corporations "  # noqa: S608
        "WHERE 1 = 0")
    await connection.commit()


async def _stage(connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    await connection.exec_driver_sql(f"DELETE FROM {STAGING}")  # noqa: S608
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        async with cursor.copy(f"COPY {STAGING} ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        return
    placeholders = ", ".join("?" * len(STAGED_COLUMNS))
    insert = f"INSERT INTO {STAGING} ({_COLUMN_LIST}) VALUES ({placeholders})"  # noqa: S608
    await connection.exec_driver_sql(insert, rows)


async def _apply(connection: AsyncConnection, rows: list[tuple[Any, ...]], now: datetime) -> int:
    for attempt in range(BUSY_RETRIES):
        try:
            async with connection.begin():
                await _stage(connection, rows)
                inserted = (await connection.execute(_INSERT_NEW, {"now": now})).rowcount
                await connection.execute(_UPDATE_LATEST)
            return inserted
        except OperationalError as error:
            # SQLite has one writer: a batch that read before another import committed gets "database is
            # locked" instead of waiting. The batch rolled back whole and is idempotent, so run it again.
            if connection.dialect.name != "sqlite" or "locked" not in str(error) or attempt == BUSY_RETRIES - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def import_files(
    engine: AsyncEngine,
    paths: Iterable[Path],
    *,
    batch_size: int = BATCH_SIZE,
    encoding: str | None = None,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import every CSV in the given files (zip or plain, any of the 23/28/29/30-column versions)."""
    paths = list(paths)
    report = ImportReport()
    started = time.perf_counter()
    imported_at = now or utcnow()
    if progress:
        progress.start(sum(member.size for path in paths for member in members(path)))

    def reject(source: str, line: int, reason: str) -> None:
        rejection = Rejection(source, line, reason)
        report.rejected += 1
        if len(report.samples) < SAMPLE_REJECTIONS:
            report.samples.append(rejection)
        if on_reject:
            on_reject(rejection)

    async with engine.connect() as connection:
        await _prepare_staging(connection)
        batch: list[tuple[Any, ...]] = []
        pending_size = 0
        for path in paths:
            for line in read_lines(path, encoding=encoding):
                report.rows_read += 1
                pending_size += line.size
                if line.fields is None:
                    reject(line.source, line.number, line.problem or "unreadable")
                    continue
                try:
                    batch.append(staged_row(records.parse_row(line.fields)))
                except records.RejectedRow as error:
                    reject(line.source, line.number, str(error))
                if len(batch) >= batch_size:
                    report.inserted += await _apply(connection, batch, imported_at)
                    if progress:
                        progress.advance(len(batch), pending_size)
                    batch, pending_size = [], 0
        if batch:
            report.inserted += await _apply(connection, batch, imported_at)
        if progress:
            progress.advance(len(batch), pending_size)
            progress.finish()
    report.seconds = time.perf_counter() - started
    return report
