"""Importing files: the real NTA files, and the search indexes following any change of the table."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from corporate.importer import import_files
from corporate.models import Corporation
from corporate.name_search import NameSearch
from corporate.service import search_names
from tests.corporate.conftest import NUMBER, assert_search_index_is_sound, count_corporations, row, write_csv


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
    assert await count_corporations(engine) == expected


async def test_the_search_index_follows_any_update_of_the_table(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, NUMBER, "システム開発株式会社"), row(2, "1000013050378", "東システム株式会社"),
        row(3, "1000020022080", "西システム株式会社")])])
    async with engine.begin() as connection:
        # A column no index entry reads, on every row: the entries stay as they are, once each.
        await connection.execute(update(Corporation).values(imported_at=datetime(2026, 1, 1, tzinfo=UTC)))
        # A state's keys and its visibility, by hand rather than by an import.
        await connection.execute(update(Corporation).where(Corporation.corporate_number == NUMBER)
                                 .values(search_name="新システム", search_text="新システム\x1f\x1f"))
        await connection.execute(update(Corporation).where(Corporation.corporate_number == "1000013050378")
                                 .values(hihyoji="1"))
    await assert_search_index_is_sound(engine)
    async with create_session_factory(engine)() as session:
        count, found = await search_names(session, NameSearch(text="システム", mode="partial"))
    assert (count, [key for key, _ in found]) == (2, [(2, 5, NUMBER), (2, 5, "1000020022080")])


async def test_truncating_the_table_empties_the_postgresql_postings(engine: AsyncEngine, tmp_path: Path) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no TRUNCATE")
    await import_files(engine, [write_csv(tmp_path / "d.csv", [row(1, NUMBER, "システム開発株式会社")])])
    async with engine.begin() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM corporation_trigrams")) > 0
        await connection.execute(text("TRUNCATE corporations"))
        assert await connection.scalar(text("SELECT count(*) FROM corporation_trigrams")) == 0
