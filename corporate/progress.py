"""The import's progress on stderr (rich): percent of bytes read, rows, rows/s, elapsed time and ETA, then
each later phase of a bulk load (constraints, indexes, search indexes, statistics) with its own clock, as
those take minutes at national size with no row to count."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressBar:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.rows = 0
        self._started = 0.0
        self._progress = Progress(
            SpinnerColumn(finished_text="✓"), TextColumn("{task.description:<22}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rows]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, refresh_per_second=4)
        self._reading: TaskID | None = None
        self._phase: TaskID | None = None

    def start(self, total_bytes: int) -> None:
        self._started = time.perf_counter()
        self._progress.start()
        self._reading = self._progress.add_task("reading and storing", total=max(total_bytes, 1), rows="")

    def advance(self, rows: int, size: int) -> None:
        self.rows += rows
        rate = self.rows / max(time.perf_counter() - self._started, 1e-9)
        assert self._reading is not None
        self._progress.update(self._reading, advance=size, rows=f"{self.rows:>12,} rows {rate:>9,.0f} rows/s")

    def phase(self, name: str) -> None:
        """The next step of a bulk load after the rows are in (no row count: a spinner and its clock)."""
        self._finish_tasks()
        self._phase = self._progress.add_task(name, total=None, rows="")

    def finish(self) -> None:
        self._finish_tasks()
        self._progress.stop()

    def _finish_tasks(self) -> None:
        for task in (self._reading, self._phase):
            if task is not None:
                found = self._progress.tasks[task]
                self._progress.update(task, total=found.total or 1, completed=found.total or 1)
                self._progress.stop_task(task)
        self._reading = self._phase = None
