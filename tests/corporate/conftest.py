from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "corporate"
REAL_FILES = sorted(SHARED_DATA.glob("*.zip"))


def row(sequence: int, number: str, name: str, *, process: str = "01", update: str = "2016-01-05",
        furigana: str = "", en_name: str = "", prefecture: tuple[str, str] = ("02", "青森県"), city: str = "202",
        kind: str = "301", close_date: str = "", hihyoji: str = "0", assigned: str = "2015-10-05") -> str:
    """A 30-column Ver.4 CSV line."""
    fields = [str(sequence), number, process, "0", update, update, f'"{name}"', "", kind, f'"{prefecture[1]}"',
              '"弘前市"', '"大字下白銀町７"', "", prefecture[0], city, "0368356", "", "", close_date,
              "01" if close_date else "", "", "", assigned, "1", f'"{en_name}"' if en_name else "", "", "", "",
              f'"{furigana}"' if furigana else "", hihyoji]
    return ",".join(fields)


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture
def real_files() -> list[Path]:
    assert len(REAL_FILES) == 2, f"the NTA sample files are expected in {SHARED_DATA}"
    return REAL_FILES
