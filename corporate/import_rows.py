"""Rows ready to store: each CSV line validated, hashed and keyed for search, in batches, parsed in this
process or in a worker process while this one writes (see parsed).

Parsing (files.read_blocks, records.parse_and_hash, normalise.search_key) is most of an import's Python time.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import multiprocessing
import multiprocessing.queues
import os
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from queue import Empty, Full
from typing import Any

from api.platform.normalise import search_key
from corporate import files, records
from corporate.files import read_blocks
from corporate.import_report import ImportReport

QUEUED_BATCHES = 4  # blocks parsed ahead by each worker process
TABLE = "corporations"
# Columns filled from a row, in staging order: the 30 fields but `latest`, then what we derive.
_FIELD_COLUMNS = tuple(column for column in records.COLUMNS if column != "latest")
STAGED_COLUMNS = (*_FIELD_COLUMNS, "record_hash", "search_name", "search_kana", "search_en", "search_text")
STAGED_COLUMN_LIST = ", ".join(STAGED_COLUMNS)


def _parsed(fields: list[str]) -> tuple[list[Any], bytes, tuple[str, str, str, str]]:
    """A CSV row validated (records.RejectedRow if not): its _FIELD_COLUMNS values, its state hash and its search
    keys (name, furigana, English name, and the three joined)."""
    values, state_hash = records.parse_and_hash(fields)
    name_key = search_key(values[records.NAME])
    kana_key = search_key(values[records.FURIGANA])
    en_key = search_key(values[records.EN_NAME])
    del values[records.LATEST]  # the 30 fields become _FIELD_COLUMNS
    return values, state_hash, (name_key, kana_key, en_key, f"{name_key}\x1f{kana_key}\x1f{en_key}")


def staged_row(fields: list[str], tail: tuple[Any, ...] = ()) -> list[Any]:
    """A CSV row validated (records.RejectedRow if not) and in STAGED_COLUMNS order, then `tail` (the
    constant columns of a bulk load)."""
    values, state_hash, keys = _parsed(fields)
    values += (state_hash, *keys, *tail)
    return values


# The bulk load on PostgreSQL takes each row as a line of COPY's text format, made where the row is parsed (in
# a worker process with `parallel`): psycopg's write_row dumped each of the 37 values on its own (a third of
# the importing process's CPU in the load), and a line crosses the process boundary for less than a list.
COPY_COLUMNS = (*_FIELD_COLUMNS, "search_name", "search_kana", "search_en", "search_text", "record_hash")


def _escaped(value: str) -> str:
    """COPY text format's escapes (the backslash first)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_line(fields: list[str], tail: str) -> str:
    """A CSV row validated (records.RejectedRow if not) as a line of COPY text in COPY_COLUMNS order, then
    `tail` (the constant columns of a bulk load, already in COPY text, each after a tab)."""
    values, state_hash, keys = _parsed(fields)
    values += keys
    line = "\t".join(["\\N" if value is None else value for value in values])
    # Nearly every line needs no escape: one check of the whole line (each NULL is one backslash) instead of
    # four replaces of each value.
    if (line.count("\\") != values.count(None) or line.count("\t") != len(values) - 1 or "\n" in line
            or "\r" in line):
        line = "\t".join(["\\N" if value is None else _escaped(value) for value in values])
    return f"{line}\t\\\\x{state_hash.hex()}{tail}\n"


Batch = tuple[list[Any], int]  # rows ready to store (or lines of COPY text), and the bytes of file they came from


def _batches(paths: list[Path], encoding: str | None, batch_size: int, report: ImportReport,
             reject: Callable[[str, int, str], None], tail: tuple[Any, ...] | str = (),
             share: tuple[int, int] | None = None, block_bytes: int | None = None) -> Iterator[Batch]:
    """Batches of rows ready to store, counting lines in `report`; bad lines go to `reject`. A `tail` that is
    a string asks for lines of COPY text (copy_line), a tuple for rows of values (staged_row).

    With `share` (k, n), only every n-th block from the k-th is parsed, and each yields one batch, even an
    empty one: a worker process's part, which the importing process puts back in file order."""
    keep = None
    if share is not None:
        blocks, (mine, workers) = itertools.count(), share
        keep = lambda: next(blocks) % workers == mine  # noqa: E731
        batch_size = 0  # a batch per block
    batch: list[Any] = []
    pending_size = 0
    stage: Callable[[list[str]], Any] = (functools.partial(copy_line, tail=tail) if isinstance(tail, str)
                                         else functools.partial(staged_row, tail=tail))
    for path in paths:
        for block in read_blocks(path, encoding=encoding, keep=keep, block_bytes=block_bytes):
            report.rows_read += len(block.fields)
            pending_size += block.size
            for position, fields in enumerate(block.fields):
                if fields is None:
                    reject(block.source, block.first + position, block.problems[position])
                    continue
                try:
                    batch.append(stage(fields))
                except records.RejectedRow as error:
                    reject(block.source, block.first + position, str(error))
                if len(batch) >= batch_size > 0:
                    yield batch, pending_size
                    batch, pending_size = [], 0
            if share is not None:
                yield batch, pending_size
                batch, pending_size = [], 0
    if share is None and (batch or pending_size):
        yield batch, pending_size


def _parse_in_worker(paths: list[Path], encoding: str | None, tail: tuple[Any, ...] | str,
                     queue: multiprocessing.queues.Queue[Any], share: tuple[int, int], block_bytes: int) -> None:
    """A worker process: parse its share of the blocks and put (rows, bytes, lines read, rejections) on
    the queue for each, then None; or a string, the traceback, if it failed."""
    try:
        report = ImportReport()
        rejections: list[tuple[str, int, str]] = []
        read = 0
        for rows, size in _batches(paths, encoding, 0, report, lambda *rejection: rejections.append(rejection),
                                   tail, share, block_bytes):
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


def parse_workers() -> int:
    """Parsing processes by default: one per core but the one the importing process writes from."""
    return max(1, (os.cpu_count() or 1) - 1)


async def parsed(paths: list[Path], encoding: str | None, batch_size: int, report: ImportReport,
                  reject: Callable[[str, int, str], None], tail: tuple[Any, ...] | str = (),
                  parallel: bool | int = False) -> AsyncIterator[Batch]:
    """_batches, in this process or (`parallel`) in worker processes while this one writes to the database.

    In one process SQLite's thread gets little done while parsing holds the GIL; with a worker, parsing
    and storing overlap (a 1M-row SQLite load: 45 s instead of 64 s). `parallel` True starts
    parse_workers() processes, an int that many: worker k parses blocks k, k + n, k + 2n ... of the files
    (each reads the bytes of all, decodes and parses only its own), and this process takes the blocks
    back in file order, so the rows, rejections and line numbers are those of one process. The rows
    cross the process boundary pickled, about a quarter more CPU in all. Each queue holds at most
    QUEUED_BATCHES blocks: memory stays bounded when the database is the slower side. The workers are
    spawned, so the caller's main module must be import-safe (`if __name__ == "__main__"`).
    """
    if not parallel:
        for batch in _batches(paths, encoding, batch_size, report, reject, tail):
            yield batch
        return
    count = parse_workers() if parallel is True else int(parallel)
    context = multiprocessing.get_context("spawn")  # not fork: this process runs threads (aiosqlite)
    queues = [context.Queue(maxsize=QUEUED_BATCHES) for _ in range(count)]
    block_bytes = files.BLOCK_BYTES  # the same block bounds in every worker
    workers = [context.Process(target=_parse_in_worker, args=(paths, encoding, tail, queue, (k, count), block_bytes),
                               name=f"corporate-import-parser-{k}", daemon=True) for k, queue in enumerate(queues)]
    for worker in workers:
        worker.start()
    loop = asyncio.get_running_loop()
    rows: list[Any] = []
    size = 0
    try:
        # Block i is worker i mod n's; the first worker to say None has no block i, so none is left.
        for block in itertools.count():
            k = block % count
            message = await loop.run_in_executor(None, _next_message, queues[k], workers[k])
            if message is None:
                break
            if isinstance(message, str):
                raise RuntimeError(f"parsing failed in a worker process:\n{message}")
            block_rows, block_size, read, rejections = message
            report.rows_read += read
            for rejection in rejections:
                reject(*rejection)
            rows += block_rows
            size += block_size
            if len(rows) >= batch_size:
                yield rows, size
                rows, size = [], 0
        if rows or size:
            yield rows, size
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for queue in queues:
            queue.close()
