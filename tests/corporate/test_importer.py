from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from api.db import create_engine
from corporate.importer import import_files
from corporate.models import Corporation
from tests.corporate.conftest import row, write_csv

NUMBER = "1000012160145"


async def _states(engine: AsyncEngine, number: str) -> list[tuple[str, str, bool]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(
            select(Corporation.name, Corporation.update_date, Corporation.latest)
            .where(Corporation.corporate_number == number).order_by(Corporation.update_date))).all()
    return [(name, day.isoformat(), latest) for name, day, latest in rows]


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(Corporation))


def _file_rows(path: Path) -> list[list[str]]:
    with zipfile.ZipFile(path) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".csv")]
        return list(csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))


async def test_the_real_nta_files_import_without_a_rejected_line_and_twice_changes_nothing(
    engine: AsyncEngine, real_files: list[Path]
) -> None:
    expected = sum(len(_file_rows(path)) for path in real_files)
    first = await import_files(engine, real_files)
    assert (first.rows_read, first.inserted, first.rejected) == (expected, expected, 0)
    again = await import_files(engine, real_files)
    assert (again.rows_read, again.inserted, again.unchanged, again.rejected) == (expected, 0, expected, 0)
    assert await _count(engine) == expected


async def test_history_is_kept_and_latest_follows_update_dates_whatever_the_file_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    newer = write_csv(tmp_path / "diff_20160210.csv", [row(1, NUMBER, "新しい名前株式会社", process="11",
                                                             update="2016-02-10")])
    older = write_csv(tmp_path / "diff_20160105.csv", [row(1, NUMBER, "古い名前株式会社", update="2016-01-05")])
    await import_files(engine, [newer])
    await import_files(engine, [older])
    assert await _states(engine, NUMBER) == [("古い名前株式会社", "2016-01-05", False),
                                             ("新しい名前株式会社", "2016-02-10", True)]


async def test_same_day_changes_are_ordered_by_sequence_number(engine: AsyncEngine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "diff.csv", [row(8, NUMBER, "後の状態", process="12"),
                                             row(3, NUMBER, "先の状態", process="11")])
    await import_files(engine, [path])
    assert sorted(await _states(engine, NUMBER), key=lambda state: state[2]) == [
        ("先の状態", "2016-01-05", False), ("後の状態", "2016-01-05", True)]


async def test_bad_lines_are_reported_and_the_rest_imported(engine: AsyncEngine, tmp_path: Path) -> None:
    good = [row(1, NUMBER, "正しい株式会社"), row(2, "1000013050378", "鰺ヶ沢簡易裁判所", kind="101")]
    path = tmp_path / "broken.csv"
    path.write_bytes(
        (good[0] + "\n").encode()
        + "1,\"壊れた\n".encode("cp932")  # Shift-JIS bytes inside a Unicode file
        + (row(3, "2000012160145", "検査数字違い") + "\n").encode()
        + (good[1][:40] + "\n").encode()  # a truncated line
        + (good[1] + "\n").encode()
    )
    rejected: list[tuple[int, str]] = []
    report = await import_files(engine, [path], on_reject=lambda r: rejected.append((r.line, r.reason)))
    assert rejected == [(2, "not valid UTF-8"),
                        (3, "corporateNumber is not 13 digits with a valid check digit"),
                        (4, "expected 23, 28, 29 or 30 columns, got 6")]
    assert (report.rows_read, report.inserted, report.rejected) == (5, 2, 3)
    assert [sample.line for sample in report.samples] == [2, 3, 4]
    assert await _count(engine) == 2


async def test_shift_jis_zip_of_28_columns_imports(engine: AsyncEngine, tmp_path: Path) -> None:
    line = ",".join(row(1, NUMBER, "青森－商事株式会社").split(",")[:28])
    path = tmp_path / "diff_20170110.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("diff_20170110.csv", (line + "\r\n").encode("cp932"))
    report = await import_files(engine, [path])
    assert (report.inserted, report.rejected) == (1, 0)
    assert await _states(engine, NUMBER) == [("青森\uff0d商事株式会社", "2016-01-05", True)]


async def test_two_concurrent_imports_of_one_file_store_each_state_once(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    lines = [row(i, number, f"会社{i}") for i, number in enumerate(
        ["1000012160145", "1000013050378", "1000020022080"], start=1)]
    path = write_csv(tmp_path / "all.csv", lines)
    engines = [create_engine(database_url, poolclass=NullPool) for _ in range(2)]
    try:
        reports = await asyncio.gather(*(import_files(other, [path], batch_size=1) for other in engines))
    finally:
        for other in engines:
            await other.dispose()
    assert sum(report.inserted for report in reports) == 3
    assert await _count(engine) == 3
