"""The bulk load into an empty table, in one transaction: secondary indexes dropped, every row streamed
in, `latest` fixed, then the indexes and search indexes rebuilt from the definitions read before (see
importer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from corporate.batch_import import BUSY_RETRIES, is_busy, update_latest
from corporate.import_report import Progress
from corporate.import_rows import COPY_COLUMNS, STAGED_COLUMNS, TABLE, Batch
from corporate.search_index_rebuild import POSTINGS, fill_postings, rebuild_fts, stop_postings

# Page cache of the bulk load on SQLite (KiB): the unique index is updated in random order and the index
# builds sort in it. Bounded, whatever the file size; set back to the connection's value afterwards.
BULK_CACHE_KIB = 256 * 1024
# Memory PostgreSQL may use to build each index of the bulk load (the GIN trigram index most of all).
BULK_MAINTENANCE_MEMORY = "256MB"
BULK_COLUMNS = (*STAGED_COLUMNS, "latest", "imported_at")
_BULK_COLUMN_LIST = ", ".join(BULK_COLUMNS)
# PostgreSQL's: the order of import_rows.copy_line's lines, then the importer's tail (latest, imported_at).
_COPY_COLUMN_LIST = ", ".join((*COPY_COLUMNS, "latest", "imported_at"))
# After a bulk load every row says latest: only numbers with several states need a look, and only the
# first UPDATE (clearing the states that are not the newest), as the newest already says latest.
_UPDATE_LATEST_BULK = update_latest(
    "SELECT corporate_number FROM corporations GROUP BY corporate_number HAVING count(*) > 1")[:1]


@dataclass(frozen=True)
class _Schema:
    """What the bulk load drops and later recreates, as the database itself spells it."""

    statements: list[str]  # CREATE INDEX / CREATE TRIGGER (SQLite) or CREATE INDEX (PostgreSQL)
    constraints: list[tuple[str, str]]  # PostgreSQL unique constraints: (name, definition)


async def begin_bulk(connection: AsyncConnection) -> bool:
    """Begin the bulk transaction if the table is empty, holding the table's write lock; else begin nothing.

    The lock makes the check stick: a second import waits, then finds rows and goes batch by batch.
    """
    for attempt in range(BUSY_RETRIES):
        try:
            await connection.begin()  # BEGIN IMMEDIATE on SQLite: the database's write lock
            if connection.dialect.name == "postgresql":
                # Blocks other writers of the table (and itself), not readers, until the commit.
                await connection.exec_driver_sql(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
            if await connection.scalar(text(f"SELECT 1 FROM {TABLE} LIMIT 1")) is None:  # noqa: S608
                return True
            await connection.rollback()
            return False
        except OperationalError as error:
            await connection.rollback()
            if not is_busy(connection, error) or attempt == BUSY_RETRIES - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def _drop_secondary(connection: AsyncConnection) -> _Schema:
    if connection.dialect.name == "sqlite":
        # Indexes from CREATE INDEX and the FTS triggers; the unique constraint's autoindex (sql IS NULL)
        # cannot be dropped and stays, deduplicating as rows come.
        found = (await connection.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name", (TABLE,))).all()
        for kind, name, _ in found:
            await connection.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
        return _Schema([sql for _, _, sql in found], [])
    indexes = (await connection.exec_driver_sql(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
        "AND i.tablename = %(table)s AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass) "
        "ORDER BY i.indexname", {"table": TABLE})).all()
    constraints = (await connection.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %(table)s::regclass AND contype = 'u' ORDER BY conname", {"table": TABLE})).all()
    for name, _ in indexes:
        await connection.exec_driver_sql(f'DROP INDEX "{name}"')
    for name, _ in constraints:
        await connection.exec_driver_sql(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
    return _Schema([definition for _, definition in indexes], [(name, definition) for name, definition in constraints])


async def _load_sqlite(connection: AsyncConnection, batches: AsyncIterator[Batch],
                       progress: Progress | None) -> None:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection  # the aiosqlite connection: its thread runs SQLite
    placeholders = ", ".join("?" * len(BULK_COLUMNS))
    insert = (f"INSERT INTO {TABLE} ({_BULK_COLUMN_LIST}) VALUES ({placeholders}) "  # noqa: S608
              "ON CONFLICT (corporate_number, record_hash) DO NOTHING")

    async def write(rows: list[list[Any]]) -> None:
        cursor = await driver.executemany(insert, rows)  # type: ignore[union-attr]
        await cursor.close()

    # SQLite releases the GIL while it works, so the next batch is parsed here while the last is stored.
    writing: asyncio.Task[None] | None = None
    try:
        async for rows, size in batches:
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(write(rows))
            await asyncio.sleep(0)  # let it hand the batch to the SQLite thread before parsing on
            if progress:
                progress.advance(len(rows), size)
    finally:
        if writing is not None:
            await writing


async def _load_postgresql(connection: AsyncConnection, batches: AsyncIterator[Batch],
                           progress: Progress | None) -> None:
    raw = await connection.get_raw_connection()
    cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
    # One COPY for the whole file, each batch its lines of COPY text (import_rows.copy_line); psycopg sends in
    # the background while the next rows are parsed.
    async with cursor.copy(f"COPY {TABLE} ({_COPY_COLUMN_LIST}) FROM STDIN") as copy:
        async for lines, size in batches:
            await copy.write("".join(lines))
            if progress:
                progress.advance(len(lines), size)


async def _add_unique_constraints(connection: AsyncConnection, constraints: list[tuple[str, str]]) -> None:
    """Add back PostgreSQL's unique constraints, first removing states the file held twice (first wins)."""
    for name, definition in constraints:
        add = f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}'
        try:
            async with connection.begin_nested():
                await connection.exec_driver_sql(add)
        except IntegrityError:
            await connection.exec_driver_sql(
                "DELETE FROM corporations AS later USING corporations AS first "
                "WHERE later.corporate_number = first.corporate_number "
                "AND later.record_hash = first.record_hash AND later.id > first.id")
            await connection.exec_driver_sql(add)



async def bulk_load(connection: AsyncConnection, batches: AsyncIterator[Batch], progress: Progress | None,
                phases: dict[str, float]) -> int:
    """Load into the empty table inside the transaction begin_bulk opened; the number of rows stored."""
    sqlite = connection.dialect.name == "sqlite"
    driver = (await connection.get_raw_connection()).driver_connection
    cache_size = None
    if sqlite:
        cache_size = await connection.scalar(text("PRAGMA cache_size"))
        await connection.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    else:
        await connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{BULK_MAINTENANCE_MEMORY}'")
    try:
        clock = time.perf_counter()

        def lap(phase: str, following: str) -> None:
            """Time the phase just done and show the next one on the progress bar."""
            nonlocal clock
            phases[phase] = time.perf_counter() - clock
            clock = time.perf_counter()
            if progress:
                progress.phase(following)

        schema = await _drop_secondary(connection)
        if sqlite:
            await _load_sqlite(connection, batches, progress)
            lap("load", "latest states")
        else:
            postings = await stop_postings(connection)
            await _load_postgresql(connection, batches, progress)
            lap("load", "unique constraint")
            await _add_unique_constraints(connection, schema.constraints)
            lap("unique", "latest states")
        for statement in _UPDATE_LATEST_BULK:
            await connection.exec_driver_sql(statement)
        lap("latest", "indexes")
        for statement in schema.statements:
            await connection.exec_driver_sql(statement)
        lap("indexes", "search indexes")
        if sqlite:
            await rebuild_fts(connection)
            lap("fts", "statistics")
        else:
            await fill_postings(connection, postings)
            lap("trigrams", "statistics")
        # Statistics for the planner now, not when autovacuum gets to it: without them PostgreSQL planned
        # /4/num and name searches on 5.7 M fresh rows as scans (210 req/s, prefix p50 200 ms). A sample
        # is enough on SQLite (analysis_limit), where a full ANALYZE reads every index.
        if sqlite:
            await connection.exec_driver_sql("PRAGMA analysis_limit = 1000")
        await connection.exec_driver_sql(f"ANALYZE {TABLE}" if sqlite else f"ANALYZE {TABLE}, {POSTINGS}")
        lap("analyze", "commit")
        stored = await connection.scalar(text(f"SELECT count(*) FROM {TABLE}"))  # noqa: S608
        await connection.commit()
        lap("commit", "checkpoint" if sqlite else "vacuum of the postings")
    except BaseException:
        await connection.rollback()
        raise
    finally:
        if cache_size is not None:
            # Straight to the driver: through SQLAlchemy a statement would begin a transaction first.
            await driver.execute(f"PRAGMA cache_size = {int(cache_size)}")  # type: ignore[union-attr]
    if sqlite:
        # The load went through the write-ahead log; copy it into the database and give the space back.
        # Best effort: a reader holding an old snapshot only delays that to a later checkpoint.
        await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    return int(stored or 0)
