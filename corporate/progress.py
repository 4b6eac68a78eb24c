"""A one-line progress bar on stderr: rows, rows/s, percent of bytes and ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, stream: TextIO = sys.stderr, every: float = 0.5) -> None:
        self.stream = stream
        self.every = every
        self.total = 0
        self.done = 0
        self.rows = 0
        self.started = 0.0
        self.shown = 0.0

    def start(self, total_bytes: int) -> None:
        self.total = max(total_bytes, 1)
        self.started = self.shown = time.perf_counter()

    def advance(self, rows: int, size: int) -> None:
        self.rows += rows
        self.done += size
        now = time.perf_counter()
        if now - self.shown >= self.every:
            self.shown = now
            self._draw(now)

    def finish(self) -> None:
        self._draw(time.perf_counter())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        fraction = min(self.done / self.total, 1.0)
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        filled = int(fraction * 30)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} {self.rows:>10,} rows "
                          f"{self.rows / elapsed:>9,.0f} rows/s  ETA {int(eta) // 60:02d}:{int(eta) % 60:02d}")
        self.stream.flush()
