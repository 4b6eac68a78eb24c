"""Rows ready to store: bad lines reported with the rest imported, Shift-JIS and older column versions,
the same import when parsed in a worker process."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.normalise import search_key
from corporate import files, records
from corporate.import_report import Rejection
from corporate.import_rows import COPY_COLUMNS, copy_line
from corporate.importer import import_files
from tests.corporate.conftest import (
    NUMBER,
    awkward_file,
    count_corporations,
    empty_corporations,
    row,
    states_of,
    stored_rows,
)


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
    assert await count_corporations(engine) == 2


async def test_shift_jis_zip_of_28_columns_imports(engine: AsyncEngine, tmp_path: Path) -> None:
    line = ",".join(row(1, NUMBER, "青森－商事株式会社").split(",")[:28])
    path = tmp_path / "diff_20170110.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("diff_20170110.csv", (line + "\r\n").encode("cp932"))
    report = await import_files(engine, [path])
    assert (report.inserted, report.rejected) == (1, 0)
    assert await states_of(engine, NUMBER) == [("青森\uff0d商事株式会社", "2016-01-05", True)]


async def test_parsing_in_worker_processes_gives_the_same_import(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "BLOCK_BYTES", 4096)  # many blocks, shared among the workers
    path = awkward_file(tmp_path)
    reports, rejections, stored = [], [], []
    for parallel in (False, True, 3):
        rejected: list[Rejection] = []
        report = await import_files(engine, [path, path], batch_size=64, parallel=parallel,
                                    on_reject=rejected.append)
        reports.append((report.rows_read, report.inserted, report.rejected))
        rejections.append(rejected)
        stored.append(await stored_rows(engine))
        await empty_corporations(engine)
    assert reports[0] == reports[1] == reports[2] == (618, 305, 4)
    assert rejections[0] == rejections[1] == rejections[2] and len(rejections[0]) == 4
    assert stored[0] == stored[1] == stored[2]


TAIL = "\tt\t2026-12-05T00:00:00+00:00"


def test_a_copy_line_is_the_row_in_copy_text_with_nulls_and_the_hash() -> None:
    fields = row(7, NUMBER, "青森システム株式会社").split(",")
    fields = [field.strip('"') for field in fields]  # as the CSV reader hands them over
    values, state_hash = records.parse_and_hash(fields[:])
    line = copy_line(fields, TAIL)
    assert line.endswith("\n") and line.count("\n") == 1
    columns = line[:-1].split("\t")
    assert len(columns) == len(COPY_COLUMNS) + 2
    by_name = dict(zip((*COPY_COLUMNS, "latest", "imported_at"), columns, strict=True))
    assert by_name["name"] == "青森システム株式会社"
    assert by_name["search_name"] == search_key("青森システム株式会社")
    assert by_name["search_text"] == f"{search_key('青森システム株式会社')}\x1f\x1f"  # no furigana, no English name
    assert by_name["close_date"] == "\\N"  # an empty field is NULL, as write_row sent None
    assert by_name["record_hash"] == "\\\\x" + state_hash.hex()  # bytea's hex input, its backslash escaped
    assert by_name["latest"] == "t" and by_name["imported_at"] == "2026-12-05T00:00:00+00:00"
    del values[records.LATEST]  # the 29 field columns: the file's 30 but `latest`
    assert [by_name[column] for column in COPY_COLUMNS[:29]] == ["\\N" if value is None else value for value in values]


def test_a_copy_line_escapes_backslash_tab_and_line_ends() -> None:
    fields = [field.strip('"') for field in row(7, NUMBER, "円\\記号\t改行\r\n株式会社").split(",")]
    columns = copy_line(fields, TAIL)[:-1].split("\t")
    by_name = dict(zip((*COPY_COLUMNS, "latest", "imported_at"), columns, strict=True))
    assert by_name["name"] == "円\\\\記号\\t改行\\r\\n株式会社"
    assert by_name["close_date"] == "\\N"  # the escaped path still writes NULL unescaped
