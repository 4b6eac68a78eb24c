"""The batch-by-batch import: history kept, `latest` and the search indexes following update dates
whatever the file order, concurrent imports storing each state once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from api.platform.db import create_engine
from api.platform.normalise import search_key
from corporate.importer import import_files
from corporate.search_postgres import trigram_code
from tests.corporate.conftest import (
    NUMBER,
    assert_search_index_is_sound,
    count_corporations,
    row,
    states_of,
    write_csv,
)


async def test_history_is_kept_and_latest_follows_update_dates_whatever_the_file_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    newer = write_csv(tmp_path / "diff_20160210.csv", [row(1, NUMBER, "新しい名前株式会社", process="11",
                                                             update="2016-02-10")])
    older = write_csv(tmp_path / "diff_20160105.csv", [row(1, NUMBER, "古い名前株式会社", update="2016-01-05")])
    await import_files(engine, [newer])
    await import_files(engine, [older])
    assert await states_of(engine, NUMBER) == [("古い名前株式会社", "2016-01-05", False),
                                              ("新しい名前株式会社", "2016-02-10", True)]


async def test_the_search_index_follows_the_latest_state_whatever_the_file_order(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # Names of one length throughout: the current state's index key (length, number) stays the same, so
    # the old state's entry must be gone before the new one's is added, or the index would break.
    files = [write_csv(tmp_path / f"diff_{index}.csv", [line]) for index, line in enumerate([
        row(1, NUMBER, "甲長さ商事株式会社", update="2016-01-05"),
        row(2, NUMBER, "乙長さ商事株式会社", process="13", update="2016-02-10"),
        row(1, NUMBER, "戊長さ商事株式会社", update="2015-12-01"),  # an older state, arriving late
        row(3, NUMBER, "丙長さ商事株式会社", process="13", update="2016-03-01", hihyoji="1"),  # hidden: not indexed
        row(4, NUMBER, "丙長さ商事株式会社", process="99", update="2016-03-02"),  # deleted: not indexed
        row(5, NUMBER, "丁長さ商事株式会社", process="13", update="2016-04-01"),
    ])]
    visible_latest = [True, True, True, False, False, True]
    for path, indexed in zip(files, visible_latest, strict=True):
        await import_files(engine, [path])
        await assert_search_index_is_sound(engine, search_key("長さ商事"))
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                current = await connection.scalar(text(
                    "SELECT count(*) FROM corporation_search WHERE corporation_search MATCH '\"長サ商\"' "
                    "AND rowid > 0"))
            else:
                current = await connection.scalar(text(
                    "SELECT count(*) FROM corporation_trigrams WHERE trigram = :code"),
                    {"code": trigram_code("長サ商")})
            assert current == int(indexed)
    assert [latest for _, _, latest in await states_of(engine, NUMBER)] == [False, False, False, False, False, True]


async def test_same_day_changes_are_ordered_by_sequence_number(engine: AsyncEngine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "diff.csv", [row(8, NUMBER, "後の状態", process="12"),
                                             row(3, NUMBER, "先の状態", process="11")])
    await import_files(engine, [path])
    assert sorted(await states_of(engine, NUMBER), key=lambda state: state[2]) == [
        ("先の状態", "2016-01-05", False), ("後の状態", "2016-01-05", True)]


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
    assert await count_corporations(engine) == 3
