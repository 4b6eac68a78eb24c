"""SQLite's FTS5 index: candidates of a partial match, current and past states; its walk's count."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.normalise import search_key
from corporate.importer import import_files
from corporate.models import Corporation
from corporate.name_search import NameSearch
from corporate.search_sqlite import indexed_candidates, sqlite_walk
from tests.corporate.conftest import row, write_csv

NUMBER = "1000012160145"


def test_the_walk_counts_from_the_index_only_where_it_holds_exactly_the_matches() -> None:
    assert sqlite_walk(NameSearch(text="青森商", mode="partial")).count is not None
    assert sqlite_walk(NameSearch(text="青森商", mode="partial", target="name")).count is None
    assert sqlite_walk(NameSearch(text="青森商", mode="partial", prefecture_code="02")).count is None


async def test_past_states_are_candidates_only_with_past_names(engine: AsyncEngine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: its FTS5 index")
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, NUMBER, "北海物産株式会社", update="2015-11-01"),
        row(2, NUMBER, "南海商事株式会社", process="13", update="2016-02-01"),  # renamed
        row(3, "1000013050378", "東海物産株式会社"),
    ])])
    names = {}
    async with engine.connect() as connection:
        for past in (False, True):
            query = select(Corporation.name).where(indexed_candidates(search_key("海物産"), past))
            names[past] = sorted((await connection.scalars(query)).all())
    assert names == {False: ["東海物産株式会社"], True: ["北海物産株式会社", "東海物産株式会社"]}
