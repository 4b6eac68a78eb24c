"""Rows ready to store: each CSV line validated, hashed and keyed for search, in batches, parsed in this
process or in a worker process while this one writes (see parsed).

Parsing (files.read_blocks, records.parse_and_hash, normalise.search_key) is most of an import's Python time.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.queues
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from queue import Empty, Full
from typing import Any

from api.platform.normalise import search_key
from corporate import records
from corporate.files import read_blocks
from corporate.import_report import ImportReport

QUEUED_BATCHES = 4  # batches parsed ahead by the worker process
TABLE = "corporations"
# Columns filled from a row, in staging order: the 30 fields but `latest`, then what we derive.
_FIELD_COLUMNS = tuple(column for column in records.COLUMNS if column != "latest")
STAGED_COLUMNS = (*_FIELD_COLUMNS, "record_hash", "search_name", "search_kana", "search_en", "search_text")
STAGED_COLUMN_LIST = ", ".join(STAGED_COLUMNS)


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


async def parsed(paths: list[Path], encoding: str | None, batch_size: int, report: ImportReport,
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
