"""Name search paging: the total rides along each page, and still comes back past the last page; the
ordered partial search (SQLite's FTS5 index, PostgreSQL's trigram postings) gives exactly what one ranked
pass over every match gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import create_session_factory
from corporate import generate, service
from corporate.importer import import_files
from corporate.normalise import search_key
from corporate.service import (
    CorporateState,
    NameSearch,
    SortKey,
    _narrowed,
    _ordered_partial,
    _partial_walk,
    _ranked_page,
    search_names,
)
from tests.corporate.conftest import row, write_csv


async def _load(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, "1000012160145", "青森物産株式会社"),
        row(2, "1000013050378", "株式会社青森"),
        row(3, "1000020022080", "東青森開発有限会社"),
        row(4, "1420001011738", "隠れ青森株式会社", hihyoji="1"),
        row(5, "1000013050378", "株式会社青森リンゴ", update="2016-02-01"),  # renamed: a past name
    ])])


async def test_each_page_carries_the_total(engine: AsyncEngine, tmp_path: Path) -> None:
    await _load(engine, tmp_path)
    search = NameSearch(text="青森", mode="partial")
    async with create_session_factory(engine)() as session:
        pages = [await search_names(session, search, offset=offset, limit=2) for offset in (0, 2, 4)]
        unanswered = await search_names(session, search, limit=2, with_count=False)
        after_first = await search_names(session, search, limit=2, after=(1, 5, "1000013050378"))
        past = await search_names(session, NameSearch(text="青森", mode="partial", include_past_names=True))
    assert [(count, [key for key, _ in found]) for count, found in pages] == [
        (3, [(1, 4, "1000012160145"), (1, 5, "1000013050378")]),
        (3, [(2, 5, "1000020022080")]),
        (3, []),  # past the last page: counted on its own
    ]
    assert [state["name"] for _, state in pages[0][1]] == ["青森物産株式会社", "株式会社青森リンゴ"]
    assert unanswered[0] is None
    # A keyset page still carries the total of the whole search.
    assert (after_first[0], [key for key, _ in after_first[1]]) == (3, [(2, 5, "1000020022080")])
    assert [key for key, _ in unanswered[1]] == [key for key, _ in pages[0][1]]
    # With past names, the renamed corporation matches by its old name (exact: rank 0) and shows its new one.
    assert past[0] == 3
    first_key, first_state = past[1][0]
    assert (first_key, first_state["name"]) == ((0, 2, "1000013050378"), "株式会社青森リンゴ")


async def _search_with_statements(engine: AsyncEngine, search: NameSearch, limit: int) -> tuple[
        tuple[int | None, list[tuple[SortKey, CorporateState]]], list[str]]:
    """``search_names``'s answer and the SQL statements it ran."""
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute's statement)
    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        async with create_session_factory(engine)() as session:
            return await search_names(session, search, limit=limit), statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)


async def test_a_counted_page_reads_the_matches_once(engine: AsyncEngine, tmp_path: Path) -> None:
    await _load(engine, tmp_path)
    (count, found), statements = await _search_with_statements(engine, NameSearch(text="青森", mode="partial"), 10)
    assert (count, len(found)) == (3, 3)
    searches = [statement for statement in statements if "corporations" in statement]
    assert len(searches) == 2  # the ranked page with its window count, then the page's rows by id
    assert "over ()" in searches[0].lower()


# --- the ordered partial search gives what one ranked pass over every match gives ----------------------

async def _load_synthetic(engine: AsyncEngine, tmp_path: Path) -> list[str]:
    """Synthetic national-style rows plus history, hidden, deleted and closed states; some search keys."""
    lines = list(generate.rows(3000, seed=11))
    lines += [row(1, "1000012160145", "北海物産株式会社", update="2015-11-01"),
              row(2, "1000012160145", "南海商事株式会社", process="13", update="2016-02-01"),  # renamed
              row(3, "1000013050378", "海物産サービス株式会社", hihyoji="1"),
              row(4, "1000020022080", "海物産株式会社", process="99"),
              row(5, "1420001011738", "海物産ホールディングス株式会社", close_date="2016-01-10")]
    await import_files(engine, [write_csv(tmp_path / "synthetic.csv", lines)])
    names = [search_key(line.split(",")[column].strip('"')) for line in lines[:3000:97] for column in (6, 28)]
    keys = [name[start:start + length] for name in names for start, length in ((0, 3), (1, 3), (2, 4))
            if len(name) >= start + length]
    keys += ["海物産", "ABC", "サービス"]
    return [key for key in dict.fromkeys(keys) if len(search_key(key)) >= 3]  # the index needs a trigram


SEARCHES = [
    {}, {"target": "name"}, {"target": "furigana"}, {"prefecture_code": "13"}, {"include_closed": False},
    {"kinds": ("301",)}, {"exact_characters": True},
]


@pytest.mark.parametrize("options", SEARCHES)
async def test_the_ordered_partial_search_matches_one_ranked_pass(
    engine: AsyncEngine, tmp_path: Path, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every term walks PostgreSQL's postings, however rare its trigrams (they are, in 3,000 rows).
    monkeypatch.setattr(service, "SELECTIVE_POSTINGS", 0)
    keys = await _load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    compared = 0
    async with create_session_factory(engine)() as session:
        for key in keys:
            search = NameSearch(text=key, mode="partial", **options)
            walk = await _partial_walk(session, search, sqlite)
            if not sqlite and _narrowed(search):
                assert walk is None  # the postings hold current, visible states only: pg_trgm answers
                continue
            assert walk is not None
            everything = await _ranked_page(session, search, sqlite, 0, 10_000, None, True)
            heads = sum(1 for ranked in everything[1] if ranked[0] < 2)  # exact and prefix matches
            for offset, limit in ((0, 5), (3, 4), (0, 10_000), (len(everything[1]), 5), (heads, 3), (heads + 2, 3)):
                expected = (everything[0], everything[1][offset:offset + limit])
                assert await _ordered_partial(session, search, walk, sqlite, offset, limit, None, True) == expected, (
                    key, offset)
            for position in range(0, len(everything[1]), 5):  # keyset pages from every fifth match on
                after = everything[1][position][:3]
                page = await _ordered_partial(session, search, walk, sqlite, 0, 4, after, False)
                assert page == (None, everything[1][position + 1:position + 5]), (key, after)
            compared += len(everything[1])
    if sqlite or not _narrowed(NameSearch(text="x", **options)):
        assert compared > 20  # the keys really match: a comparison of empty pages would prove nothing


async def test_postgresql_finds_a_term_of_a_rare_trigram_through_pg_trgm(engine: AsyncEngine, tmp_path: Path) -> None:
    await _load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    async with create_session_factory(engine)() as session:
        longer = await _partial_walk(session, NameSearch(text="海物産サ", mode="partial"), sqlite)
        three = await _partial_walk(session, NameSearch(text="海物産", mode="partial"), sqlite)
    # SQLite always walks its index; PostgreSQL walks a three-character term's one trigram, and finds a
    # longer term with a rare trigram (at most SELECTIVE_POSTINGS postings) in one pg_trgm pass.
    assert (longer is None, three is None) == (not sqlite, False)


async def test_a_three_character_search_is_counted_by_the_index_alone(engine: AsyncEngine, tmp_path: Path) -> None:
    await _load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    (count, found), statements = await _search_with_statements(engine, NameSearch(text="海物産", mode="partial"), 2)
    async with create_session_factory(engine)() as session:
        everything = await _ranked_page(session, NameSearch(text="海物産", mode="partial"), sqlite, 0, 100, None, True)
    assert (count, [key for key, _ in found]) == (everything[0], [ranked[:3] for ranked in everything[1][:2]])
    # The hidden and the deleted state are not matches; the closed one is.
    names = {state["name"] for _, state in found}
    assert count == 3 and "海物産ホールディングス株式会社" in names and "海物産サービス株式会社" not in names
    counted = [statement for statement in statements if "count(" in statement.lower()]
    index = "FROM corporation_search WHERE" if sqlite else "FROM corporation_trigrams AS anchor WHERE"
    assert len(counted) == 1 and index in " ".join(counted[0].split())
    assert "corporations" not in counted[0]


async def test_a_longer_term_is_counted_by_its_trigrams_positions(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "SELECTIVE_POSTINGS", 0)  # walk PostgreSQL's postings, however rare
    await import_files(engine, [write_csv(tmp_path / "d.csv", [
        row(1, "1000012160145", "甲乙丙戊乙丙丁株式会社"),  # both trigrams of 甲乙丙丁, apart: no match
        row(2, "1000013050378", "甲乙丙丁甲乙丙丁商事"),  # the term twice: one match
        row(3, "1000020022080", "東甲乙丙丁"),
    ])])
    (count, found), statements = await _search_with_statements(engine, NameSearch(text="甲乙丙丁", mode="partial"), 5)
    assert (count, [key for key, _ in found]) == (2, [(1, 10, "1000013050378"), (2, 5, "1000020022080")])
    # Counted by the index alone: SQLite's phrase query, PostgreSQL's postings joined at their positions
    # (after a bounded count of each trigram's postings, which chooses the walk).
    counts = [" ".join(statement.split()) for statement in statements if "count(" in statement.lower()]
    if engine.dialect.name == "sqlite":
        assert len(counts) == 1 and "FROM corporation_search WHERE" in counts[0]
    else:
        assert len(counts) == 2 and "LIMIT" in counts[0] and "corporation_trigrams AS anchor JOIN" in counts[1]
    assert not any("corporations" in counted for counted in counts)


async def test_past_names_are_found_by_partial_search(engine: AsyncEngine, tmp_path: Path) -> None:
    await _load_synthetic(engine, tmp_path)
    async with create_session_factory(engine)() as session:
        current = await search_names(session, NameSearch(text="北海物", mode="partial"))
        past = await search_names(session, NameSearch(text="北海物", mode="partial", include_past_names=True))
    assert current == (0, [])
    assert (past[0], [(key, state["name"]) for key, state in past[1]]) == (
        1, [((1, 4, "1000012160145"), "南海商事株式会社")])  # a prefix of its past name 北海物産
