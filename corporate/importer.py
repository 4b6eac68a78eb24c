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
PostgreSQL's server works beside it in its own process; big files are parsed in worker processes while
this one writes (see import_rows.parsed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import UTCDateTime, utcnow
from corporate.batch_import import prepare_staging, store_batch
from corporate.bulk_load import begin_bulk, bulk_load
from corporate.files import members
from corporate.import_report import SAMPLE_REJECTIONS, ImportReport, Progress, Rejection
from corporate.import_rows import parsed
from corporate.search_index_rebuild import vacuum_postings

BATCH_SIZE = 5000
# By default imports of this many bytes of CSV or more parse in worker processes (each takes ~0.5 s to start):
# on SQLite one per core but the one that writes; on PostgreSQL one per core, since the importing process only
# passes the workers' COPY text on (import_rows.copy_line). 1.7 million rows on 2 cores: the load phase 47 s with
# two workers, 60 s parsed in the importing process.
PARALLEL_MIN_BYTES = 16 << 20


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
    parallel: bool | int | None = None,
) -> ImportReport:
    """Import every CSV in the given files (zip or plain, any of the 23/28/29/30-column versions).

    `bulk=False` goes batch by batch even into an empty table (each batch committed on its own).
    `parallel` parses in worker processes (True: one per core but one; an int: that many) while this one writes
    (see import_rows.parsed); by default for files of PARALLEL_MIN_BYTES or more.
    """
    paths = list(paths)
    report = ImportReport()
    started = time.perf_counter()
    imported_at = now or utcnow()
    total_bytes = sum(member.size for path in paths for member in members(path))
    if parallel is None and total_bytes >= PARALLEL_MIN_BYTES:
        parallel = True if engine.dialect.name == "sqlite" else os.cpu_count() or 1
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
        if bulk and await begin_bulk(connection):
            report.bulk = True
            dialect = connection.dialect
            tail: tuple[Any, ...] | str
            if dialect.name == "postgresql":  # latest, imported_at as COPY text (import_rows.copy_line)
                tail = f"\tt\t{imported_at.astimezone(UTC).isoformat()}"
            else:
                stamp = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
                tail = (True, stamp(imported_at) if stamp else imported_at)
            async with aclosing(parsed(paths, encoding, batch_size, report, reject, tail, parallel)) as batches:
                report.inserted = await bulk_load(connection, batches, progress, report.phases)
            if dialect.name == "postgresql":
                clock = time.perf_counter()
                await vacuum_postings(connection)
                report.phases["vacuum"] = time.perf_counter() - clock
        else:
            await prepare_staging(connection)
            async with aclosing(parsed(paths, encoding, batch_size, report, reject, (), parallel)) as batches:
                async for rows, size in batches:
                    if rows:
                        report.inserted += await store_batch(connection, rows, imported_at)
                    if progress:
                        progress.advance(len(rows), size)
        if progress:
            progress.finish()
    report.seconds = time.perf_counter() - started
    return report
