"""Import of NTA full-data and daily-diff files: streaming, batched, idempotent, keeping history.

Two ways in, with the same end state:

- Into a table that holds rows (a daily diff, a full file again): each batch of rows goes to a
  temporary staging table (executemany on SQLite, COPY on PostgreSQL), then one INSERT ... SELECT ...
  ON CONFLICT DO NOTHING keyed on (corporate number, state hash) adds the new states (not yet latest),
  and two UPDATEs recompute `latest` for the numbers in the batch from (update date, sequence number),
  so diff files may arrive in any order: first the states that stop being latest, then those that
  become it. At no moment do two states of a number say latest, which SQLite's search index, keyed by
  the current state's number (migration 0006), relies on. A batch is one transaction: an interrupted
  import leaves whole batches, and running it again adds only what is missing.
- Into an empty table (the first national load, 5.7 million rows): the bulk load. One transaction
  takes the table's write lock, checks that the table is empty, drops its secondary indexes (and on
  SQLite the FTS triggers; on PostgreSQL the unique constraint too), streams every row straight into
  the table, then rebuilds all of it from the definitions it read before dropping them, so the schema
  is the migrations' to the byte. Building an index once over sorted data is many times cheaper than
  updating it row by row; the trigram indexes dominate either way. On PostgreSQL the trigram postings
  (migration 0008) are made the same way: their trigger is off during the load, then the table is made
  anew from its view in one pass and indexed once; after the commit a VACUUM marks it all-visible, so
  searches count postings from the index alone. Within the file a state seen twice is
  stored once (first wins, as batch by batch) and `latest` is fixed for the numbers with several states.
  Being one transaction, an interrupted bulk load leaves the table empty with its schema intact, and
  running it again starts over; no durability pragma is relaxed, since there is one commit to sync.
  Readers see no rows until the commit (on PostgreSQL they wait for it: dropping an index locks the
  table), and on SQLite other writers wait for the whole load.

Parsing (files.read_blocks, records.parse_and_hash, normalise.search_key) is most of the Python time.
PostgreSQL's server works beside it in its own process; for SQLite big files are parsed in a worker
process while this one writes (see _parsed).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.queues
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from queue import Empty, Full
from typing import Any, Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.db import UTCDateTime, utcnow
from corporate import records
from corporate.files import members, read_blocks
from corporate.normalise import search_key

BATCH_SIZE = 5000
# By default SQLite imports of this many bytes of CSV or more parse in a worker process (it takes ~0.5 s
# to start). Not PostgreSQL: its server already works beside us, and a third busy process lost there.
PARALLEL_MIN_BYTES = 16 << 20
QUEUED_BATCHES = 4  # batches parsed ahead by the worker process
BUSY_RETRIES = 40
SAMPLE_REJECTIONS = 100
STAGING = "corporate_import_batch"
TABLE = "corporations"
# Page cache of the bulk load on SQLite (KiB): the unique index is updated in random order and the index
# builds sort in it. Bounded, whatever the file size; set back to the connection's value afterwards.
BULK_CACHE_KIB = 256 * 1024
# Memory PostgreSQL may use to build each index of the bulk load (the GIN trigram index most of all).
BULK_MAINTENANCE_MEMORY = "256MB"
# PostgreSQL's trigram postings of current names (migration 0008): kept by a row trigger on the table,
# which the bulk load turns off, making the postings anew from their view once `latest` is fixed.
POSTINGS = "corporation_trigrams"
POSTINGS_TRIGGER = "corporations_trigrams_follow"
# Columns filled from a row, in staging order: the 30 fields but `latest`, then what we derive.
_FIELD_COLUMNS = tuple(column for column in records.COLUMNS if column != "latest")
STAGED_COLUMNS = (*_FIELD_COLUMNS, "record_hash", "search_name", "search_kana", "search_en", "search_text")
BULK_COLUMNS = (*STAGED_COLUMNS, "latest", "imported_at")
_COLUMN_LIST = ", ".join(STAGED_COLUMNS)
_BULK_COLUMN_LIST = ", ".join(BULK_COLUMNS)

# The SQL below is built from module constants only (column and table names), never from input.
_INSERT_NEW = text(
    f"INSERT INTO corporations ({_COLUMN_LIST}, latest, imported_at) "  # noqa: S608
    f"SELECT {_COLUMN_LIST}, false, :now FROM {STAGING} WHERE true "
    "ON CONFLICT (corporate_number, record_hash) DO NOTHING"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _update_latest(numbers: str) -> list[str]:
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


_UPDATE_LATEST = [text(statement) for statement in _update_latest(f"SELECT corporate_number FROM {STAGING}")]  # noqa: S608
# After a bulk load every row says latest: only numbers with several states need a look, and only the
# first UPDATE (clearing the states that are not the newest), as the newest already says latest.
_UPDATE_LATEST_BULK = _update_latest(
    "SELECT corporate_number FROM corporations GROUP BY corporate_number HAVING count(*) > 1")[:1]


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
    bulk: bool = False  # loaded into an empty table in one transaction, indexes rebuilt after
    phases: dict[str, float] = field(default_factory=dict)  # seconds of each step of a bulk load

    @property
    def unchanged(self) -> int:
        """Valid rows already stored (the same state imported before)."""
        return self.rows_read - self.rejected - self.inserted


class Progress(Protocol):
    def start(self, total_bytes: int) -> None: ...
    def advance(self, rows: int, size: int) -> None: ...
    def finish(self) -> None: ...


def staged_row(fields: list[str], tail: tuple[Any, ...] = ()) -> list[Any]:
    """A CSV row validated (records.RejectedRow if not) and in STAGED_COLUMNS order, then `tail` (the
    constant columns of a bulk load)."""
    values, state_hash = records.parse_and_hash(fields)
    name_key = search_key(values[records.NAME])
    kana_key = search_key(values[records.FURIGANA])
    en_key = search_key(values[records.EN_NAME])
    del values[records.LATEST]  # the 30 fields become _FIELD_COLUMNS
    values += (state_hash, name_key, kana_key, en_key, f"{name_key}\x1f{kana_key}\x1f{en_key}", *tail)
    return values


Batch = tuple[list[list[Any]], int]  # rows ready to store, and the bytes of file they came from


def _batches(paths: list[Path], encoding: str | None, batch_size: int, report: ImportReport,
             reject: Callable[[str, int, str], None], tail: tuple[Any, ...] = ()) -> Iterator[Batch]:
    """Batches of rows ready to store, counting lines in `report`; bad lines go to `reject`."""
    batch: list[list[Any]] = []
    pending_size = 0
    for path in paths:
        for block in read_blocks(path, encoding=encoding):
            report.rows_read += len(block.fields)
            pending_size += block.size
            for position, fields in enumerate(block.fields):
                if fields is None:
                    reject(block.source, block.first + position, block.problems[position])
                    continue
                try:
                    batch.append(staged_row(fields, tail))
                except records.RejectedRow as error:
                    reject(block.source, block.first + position, str(error))
                if len(batch) >= batch_size:
                    yield batch, pending_size
                    batch, pending_size = [], 0
    if batch or pending_size:
        yield batch, pending_size


def _parse_in_worker(paths: list[Path], encoding: str | None, batch_size: int, tail: tuple[Any, ...],
                     queue: multiprocessing.queues.Queue[Any]) -> None:
    """The worker process: parse the files and put (rows, bytes, lines read, rejections) on the queue,
    then None; or a string, the traceback, if it failed."""
    try:
        report = ImportReport()
        rejections: list[tuple[str, int, str]] = []
        read = 0
        for rows, size in _batches(paths, encoding, batch_size, report,
                                   lambda *rejection: rejections.append(rejection), tail):
            # A copy: the queue pickles in a background thread, after the list is cleared.
            _put(queue, (rows, size, report.rows_read - read, rejections[:]))
            read = report.rows_read
            rejections.clear()
        _put(queue, None)
    except Exception:
        _put(queue, traceback.format_exc())
        raise


def _put(queue: multiprocessing.queues.Queue[Any], message: Any) -> None:
    """Put, waiting while the queue is full, but not forever if the importing process was killed."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            queue.put(message, timeout=1)
            return
        except Full:
            if parent is not None and not parent.is_alive():
                raise SystemExit(1) from None


def _next_message(queue: multiprocessing.queues.Queue[Any], worker: BaseProcess) -> Any:
    while True:
        try:
            return queue.get(timeout=0.5)
        except Empty:
            if not worker.is_alive():
                raise RuntimeError(f"the parsing process ended unexpectedly (exit code {worker.exitcode})") \
                    from None


async def _parsed(paths: list[Path], encoding: str | None, batch_size: int, report: ImportReport,
                  reject: Callable[[str, int, str], None], tail: tuple[Any, ...] = (),
                  parallel: bool = False) -> AsyncIterator[Batch]:
    """_batches, in this process or (`parallel`) in a worker process while this one writes to the database.

    In one process SQLite's thread gets little done while parsing holds the GIL; with the worker, parsing
    and storing overlap (a 1M-row SQLite load: 45 s instead of 64 s). The rows cross the process boundary
    pickled, about a quarter more CPU in all. The queue holds at most QUEUED_BATCHES batches: memory stays
    bounded when the database is the slower side. The worker is spawned, so the caller's main module must
    be import-safe (`if __name__ == "__main__"`).
    """
    if not parallel:
        for batch in _batches(paths, encoding, batch_size, report, reject, tail):
            yield batch
        return
    context = multiprocessing.get_context("spawn")  # not fork: this process runs threads (aiosqlite)
    queue = context.Queue(maxsize=QUEUED_BATCHES)
    worker = context.Process(target=_parse_in_worker, args=(paths, encoding, batch_size, tail, queue),
                             name="corporate-import-parser", daemon=True)
    worker.start()
    loop = asyncio.get_running_loop()
    try:
        while (message := await loop.run_in_executor(None, _next_message, queue, worker)) is not None:
            if isinstance(message, str):
                raise RuntimeError(f"parsing failed in the worker process:\n{message}")
            rows, size, read, rejections = message
            report.rows_read += read
            for rejection in rejections:
                reject(*rejection)
            yield rows, size
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        queue.close()


async def _prepare_staging(connection: AsyncConnection) -> None:
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("PRAGMA temp_store=MEMORY")
    await connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} AS SELECT {_COLUMN_LIST} FROM corporations "  # noqa: S608
        "WHERE 1 = 0")
    await connection.commit()


async def _stage(connection: AsyncConnection, rows: list[list[Any]]) -> None:
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
    # Straight to the driver, in the transaction SQLAlchemy began: it takes the rows as they are (lists).
    raw = await connection.get_raw_connection()
    cursor = await raw.driver_connection.executemany(insert, rows)  # type: ignore[union-attr]
    await cursor.close()


def _is_busy(connection: AsyncConnection, error: OperationalError) -> bool:
    return connection.dialect.name == "sqlite" and "locked" in str(error)


async def _apply(connection: AsyncConnection, rows: list[list[Any]], now: datetime) -> int:
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
            if not _is_busy(connection, error) or attempt == BUSY_RETRIES - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


# --- bulk load into an empty table -------------------------------------------------------------------


@dataclass(frozen=True)
class _Schema:
    """What the bulk load drops and later recreates, as the database itself spells it."""

    statements: list[str]  # CREATE INDEX / CREATE TRIGGER (SQLite) or CREATE INDEX (PostgreSQL)
    constraints: list[tuple[str, str]]  # PostgreSQL unique constraints: (name, definition)


async def _begin_bulk(connection: AsyncConnection) -> bool:
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
            if not _is_busy(connection, error) or attempt == BUSY_RETRIES - 1:
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
    # One COPY for the whole file; psycopg sends in the background while the next rows are parsed.
    async with cursor.copy(f"COPY {TABLE} ({_BULK_COLUMN_LIST}) FROM STDIN") as copy:
        async for rows, size in batches:
            for row in rows:
                await copy.write_row(row)
            if progress:
                progress.advance(len(rows), size)


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


async def _stop_postings(connection: AsyncConnection) -> list[tuple[str, str]]:
    """Turn the postings' trigger off for the load; the postings' constraints, to add back after the fill."""
    await connection.exec_driver_sql(f"ALTER TABLE {TABLE} DISABLE TRIGGER {POSTINGS_TRIGGER}")
    constraints = (await connection.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(table)s::regclass "
        "ORDER BY conname", {"table": POSTINGS})).all()
    return [(name, definition) for name, definition in constraints]


async def _fill_postings(connection: AsyncConnection, constraints: list[tuple[str, str]]) -> None:
    """Make the postings anew from their view in one pass, index them once, and turn the trigger back on.

    CREATE TABLE ... AS writes through PostgreSQL's bulk-insert path: at national size it took 29-33 s
    where INSERT ... SELECT into the existing table took 70 s. So the table is replaced, and the
    constraints read before the load are added back by name (the primary key makes its columns NOT
    NULL again). JIT compilation only slowed this query down.
    """
    await connection.exec_driver_sql("SET LOCAL jit = off")
    await connection.exec_driver_sql(f"DROP TABLE {POSTINGS}")
    await connection.exec_driver_sql(f"CREATE TABLE {POSTINGS} AS "  # noqa: S608
                                     "SELECT trigram, sort_key, position FROM corporation_trigram_rows")
    for name, definition in constraints:
        await connection.exec_driver_sql(f'ALTER TABLE {POSTINGS} ADD CONSTRAINT "{name}" {definition}')
    await connection.exec_driver_sql(f"ALTER TABLE {TABLE} ENABLE TRIGGER {POSTINGS_TRIGGER}")


async def _bulk(connection: AsyncConnection, batches: AsyncIterator[Batch], progress: Progress | None,
                phases: dict[str, float]) -> int:
    """Load into the empty table inside the transaction _begin_bulk opened; the number of rows stored."""
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

        def lap(phase: str) -> None:
            nonlocal clock
            phases[phase] = time.perf_counter() - clock
            clock = time.perf_counter()

        schema = await _drop_secondary(connection)
        if sqlite:
            await _load_sqlite(connection, batches, progress)
            lap("load")
        else:
            postings = await _stop_postings(connection)
            await _load_postgresql(connection, batches, progress)
            lap("load")
            await _add_unique_constraints(connection, schema.constraints)
            lap("unique")
        for statement in _UPDATE_LATEST_BULK:
            await connection.exec_driver_sql(statement)
        lap("latest")
        for statement in schema.statements:
            await connection.exec_driver_sql(statement)
        lap("indexes")
        if sqlite:
            # The content table was empty before, so its FTS index was too: index every row in one pass.
            await connection.exec_driver_sql("INSERT INTO corporation_search(corporation_search) VALUES ('rebuild')")
            lap("fts")
        else:
            await _fill_postings(connection, postings)
            lap("trigrams")
        # Statistics for the planner now, not when autovacuum gets to it: without them PostgreSQL planned
        # /4/num and name searches on 5.7 M fresh rows as scans (210 req/s, prefix p50 200 ms). A sample
        # is enough on SQLite (analysis_limit), where a full ANALYZE reads every index.
        if sqlite:
            await connection.exec_driver_sql("PRAGMA analysis_limit = 1000")
        await connection.exec_driver_sql(f"ANALYZE {TABLE}" if sqlite else f"ANALYZE {TABLE}, {POSTINGS}")
        lap("analyze")
        stored = await connection.scalar(text(f"SELECT count(*) FROM {TABLE}"))  # noqa: S608
        await connection.commit()
        lap("commit")
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


async def import_files(
    engine: AsyncEngine,
    paths: Iterable[Path],
    *,
    batch_size: int = BATCH_SIZE,
    encoding: str | None = None,
    progress: Progress | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
    now: datetime | None = None,
    bulk: bool = True,
    parallel: bool | None = None,
) -> ImportReport:
    """Import every CSV in the given files (zip or plain, any of the 23/28/29/30-column versions).

    `bulk=False` goes batch by batch even into an empty table (each batch committed on its own).
    `parallel` parses in a worker process while this one writes (see _parsed); by default on SQLite for
    files of PARALLEL_MIN_BYTES or more.
    """
    paths = list(paths)
    report = ImportReport()
    started = time.perf_counter()
    imported_at = now or utcnow()
    total_bytes = sum(member.size for path in paths for member in members(path))
    if parallel is None:
        parallel = engine.dialect.name == "sqlite" and total_bytes >= PARALLEL_MIN_BYTES
    if progress:
        progress.start(total_bytes)

    def reject(source: str, line: int, reason: str) -> None:
        rejection = Rejection(source, line, reason)
        report.rejected += 1
        if len(report.samples) < SAMPLE_REJECTIONS:
            report.samples.append(rejection)
        if on_reject:
            on_reject(rejection)

    async with engine.connect() as connection:
        if bulk and await _begin_bulk(connection):
            report.bulk = True
            dialect = connection.dialect
            stamp = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
            tail = (True, stamp(imported_at) if stamp else imported_at)
            async with aclosing(_parsed(paths, encoding, batch_size, report, reject, tail, parallel)) as batches:
                report.inserted = await _bulk(connection, batches, progress, report.phases)
            if dialect.name == "postgresql":
                # Index-only scans of the postings skip the table only for pages the visibility map marks
                # all-visible; VACUUM marks them now rather than when autovacuum comes (it cannot run in
                # the load's transaction).
                clock = time.perf_counter()
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.exec_driver_sql(f"VACUUM {POSTINGS}")
                report.phases["vacuum"] = time.perf_counter() - clock
        else:
            await _prepare_staging(connection)
            async with aclosing(_parsed(paths, encoding, batch_size, report, reject, (), parallel)) as batches:
                async for rows, size in batches:
                    if rows:
                        report.inserted += await _apply(connection, rows, imported_at)
                    if progress:
                        progress.advance(len(rows), size)
        if progress:
            progress.finish()
    report.seconds = time.perf_counter() - started
    return report
