from __future__ import annotations

import io

from rich.console import Console

from corporate.progress import ProgressBar


def test_the_bar_shows_rows_their_rate_and_each_later_phase() -> None:
    output = io.StringIO()
    bar = ProgressBar(Console(file=output, width=140, force_terminal=False, color_system=None))
    bar.start(2000)
    bar.advance(1234, 1000)
    bar.advance(1000, 1000)
    bar.phase("indexes")
    bar.phase("search indexes")
    bar.finish()
    shown = output.getvalue().splitlines()
    reading = next(line for line in shown if "reading and storing" in line)
    assert "100%" in reading and "2,234 rows" in reading and "rows/s" in reading
    phases = [line.split()[1] for line in shown if line.split()[1:2] in (["indexes"], ["search"])]
    assert phases == ["indexes", "search"]
    assert bar.rows == 2234
