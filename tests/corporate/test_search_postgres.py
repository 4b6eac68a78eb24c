"""PostgreSQL's trigram postings: a term of a rare trigram goes to pg_trgm, a longer term is counted by
its trigrams' positions (beside SQLite's phrase query, which answers the same)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from corporate import search_postgres
from corporate.importer import import_files
from corporate.name_search import NameSearch
from corporate.search_ordered import partial_walk
from tests.corporate.conftest import load_synthetic, row, search_with_statements, write_csv


async def test_postgresql_finds_a_term_of_a_rare_trigram_through_pg_trgm(engine: AsyncEngine, tmp_path: Path) -> None:
    await load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    async with create_session_factory(engine)() as session:
        longer = await partial_walk(session, NameSearch(text="海物産サ", mode="partial"), sqlite)
        three = await partial_walk(session, NameSearch(text="海物産", mode="partial"), sqlite)
    # SQLite always walks its index; PostgreSQL walks a three-character term's one trigram, and finds a
    # longer term with a rare trigram (at most SELECTIVE_POSTINGS postings) in one pg_trgm pass.
    assert (longer is None, three is None) == (not sqlite, False)


async def test_a_longer_term_is_counted_by_its_trigrams_positions(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_postgres, "SELECTIVE_POSTINGS", 0)  # walk PostgreSQL's postings, however rare
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, "1000012160145", "甲乙丙戊乙丙丁株式会社"),  # both trigrams of 甲乙丙丁, apart: no match
        row(2, "1000013050378", "甲乙丙丁甲乙丙丁商事"),  # the term twice: one match
        row(3, "1000020022080", "東甲乙丙丁"),
    ])])
    (count, found), statements = await search_with_statements(engine, NameSearch(text="甲乙丙丁", mode="partial"), 5)
    assert (count, [key for key, _ in found]) == (2, [(1, 10, "1000013050378"), (2, 5, "1000020022080")])
    # Counted by the index alone: SQLite's phrase query, PostgreSQL's postings joined at their positions
    # (after a bounded count of each trigram's postings, which chooses the walk).
    counts = [" ".join(statement.split()) for statement in statements if "count(" in statement.lower()]
    if engine.dialect.name == "sqlite":
        assert len(counts) == 1 and "FROM corporation_search WHERE" in counts[0]
    else:
        assert len(counts) == 2 and "LIMIT" in counts[0] and "corporation_trigrams AS anchor JOIN" in counts[1]
    assert not any("corporations" in counted for counted in counts)
