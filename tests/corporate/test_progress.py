"""The import's rich progress bar: redrawn on a terminal, one summary line into a file."""

from __future__ import annotations

import io
import re

from corporate.progress import ProgressBar


def test_into_a_file_it_writes_one_summary_line() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.start(1000)
    bar.advance(3, 400)
    bar.advance(2, 600)
    bar.finish()
    assert bar.rows == 5
    assert re.fullmatch(r"imported 5 rows in \d+\.\d s \([\d,]+ rows/s\)\n", stream.getvalue().splitlines(True)[-1])


def test_on_a_terminal_it_shows_percent_and_rows() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.console = type(bar.console)(file=stream, force_terminal=True, width=120)
    bar.progress.live.console = bar.console
    bar.start(200)
    bar.advance(7, 100)
    bar.progress.refresh()
    bar.finish()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "importing" in shown and "50%" in shown and "7 rows" in shown
