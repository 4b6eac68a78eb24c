"""The import's progress bar on stderr (rich): percent of the file's bytes, rows, rows/s and time left.

Rows are counted as they are imported; the bar advances by bytes read, the only total known before the end.
On a terminal it redraws in place; into a file or pipe rich writes nothing until ``finish`` prints the total.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text


class _Rows(ProgressColumn):
    def render(self, task: Task) -> Text:
        rows = task.fields.get("rows", 0)
        elapsed = task.elapsed or 1e-9
        return Text(f"{rows:>10,} rows {rows / elapsed:>9,.0f} rows/s")


class ProgressBar:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.console = Console(file=stream)
        self.progress = Progress(TextColumn("importing"), BarColumn(), TaskProgressColumn(), _Rows(),
                                 TimeRemainingColumn(), console=self.console, transient=False)
        self.task = self.progress.add_task("import", total=1, rows=0, start=False)
        self.rows = 0
        self.started = 0.0

    def start(self, total_bytes: int) -> None:
        self.started = time.perf_counter()
        self.progress.update(self.task, total=max(total_bytes, 1))
        self.progress.start_task(self.task)
        self.progress.start()

    def advance(self, rows: int, size: int) -> None:
        self.rows += rows
        self.progress.update(self.task, advance=size, rows=self.rows)

    def finish(self) -> None:
        self.progress.stop()
        if not self.console.is_terminal:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.console.print(f"imported {self.rows:,} rows in {elapsed:.1f} s ({self.rows / elapsed:,.0f} rows/s)")
