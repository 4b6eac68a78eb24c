"""The ordered partial search (SQLite's FTS5 index, PostgreSQL's trigram postings) gives exactly what one
ranked pass over every match gives, and counts from the index alone where it can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from corporate import search_postgres, search_ranked
from corporate.name_search import NameSearch, narrowed
from corporate.search_ordered import ordered_partial, partial_walk
from corporate.search_ranked import ranked_page
from tests.corporate.conftest import load_synthetic, search_with_statements

SEARCHES = [
    {}, {"target": "name"}, {"target": "furigana"}, {"prefecture_code": "13"}, {"include_closed": False},
    {"kinds": ("301",)}, {"exact_characters": True},
]


@pytest.mark.parametrize("options", SEARCHES)
async def test_the_ordered_partial_search_matches_one_ranked_pass(
    engine: AsyncEngine, tmp_path: Path, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every term walks PostgreSQL's postings, however rare its trigrams (they are, in 3,000 rows).
    monkeypatch.setattr(search_postgres, "SELECTIVE_POSTINGS", 0)
    keys = await load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    compared = 0
    async with create_session_factory(engine)() as session:
        for key in keys:
            search = NameSearch(text=key, mode="partial", **options)
            walk = await partial_walk(session, search, sqlite)
            if not sqlite and narrowed(search):
                assert walk is None  # the postings hold current, visible states only: pg_trgm answers
                continue
            assert walk is not None
            everything = await ranked_page(session, search, sqlite, 0, 10_000, None, True)
            heads = sum(1 for ranked in everything[1] if ranked[0] < 2)  # exact and prefix matches
            for offset, limit in ((0, 5), (3, 4), (0, 10_000), (len(everything[1]), 5), (heads, 3), (heads + 2, 3)):
                expected = (everything[0], everything[1][offset:offset + limit])
                assert await ordered_partial(session, search, walk, sqlite, offset, limit, None, True) == expected, (
                    key, offset)
            for position in range(0, len(everything[1]), 5):  # keyset pages from every fifth match on
                after = everything[1][position][:3]
                page = await ordered_partial(session, search, walk, sqlite, 0, 4, after, False)
                assert page == (None, everything[1][position + 1:position + 5]), (key, after)
            compared += len(everything[1])
    if sqlite or not narrowed(NameSearch(text="x", **options)):
        assert compared > 20  # the keys really match: a comparison of empty pages would prove nothing


@pytest.mark.parametrize("options", SEARCHES)
async def test_a_two_character_key_walks_the_pair_index_and_matches_one_scan(
    engine: AsyncEngine, tmp_path: Path, options: dict[str, Any]
) -> None:
    """A three-character term that loses one to folding (サービ, チール, Ｍ＆Ｍ) or any two-character key."""
    keys = await load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    pairs = [*dict.fromkeys(key[:2] for key in keys[:40]), "サービ", "チール", "Ｍ＆Ｍ", "ホール"]
    compared = 0
    async with create_session_factory(engine)() as session:
        for term in pairs:
            search = NameSearch(text=term, mode="partial", **options)
            assert len(search.key) == 2
            walk = await partial_walk(session, search, sqlite)
            assert (walk is None) == (not sqlite and narrowed(search))
            # One pass over every row (the condition alone, no index), and the search as it runs.
            scanned = await ranked_page(session, search, sqlite, 0, 10_000, None, True)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(search_ranked, "indexed_candidates", lambda *_: None)
                patch.setattr(search_ranked, "pair_candidates", lambda *_: None)
                assert await ranked_page(session, search, sqlite, 0, 10_000, None, True) == scanned, term
            if walk is not None:
                for offset, limit in ((0, 5), (2, 4), (0, 10_000)):
                    expected = (scanned[0], scanned[1][offset:offset + limit])
                    assert await ordered_partial(session, search, walk, sqlite, offset, limit, None, True) == expected
                for position in range(0, len(scanned[1]), 7):
                    page = await ordered_partial(session, search, walk, sqlite, 0, 3, scanned[1][position][:3], False)
                    assert page == (None, scanned[1][position + 1:position + 4]), (term, position)
            compared += len(scanned[1])
    assert compared > 50


async def test_a_folded_two_character_search_is_counted_by_the_pair_index_alone(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    (count, found), statements = await search_with_statements(engine, NameSearch(text="Ｍ＆Ｍ", mode="partial"), 5)
    assert count == 1 and [state["name"] for _, state in found] == ["Ｍ＆Ｍスチール株式会社"]
    (count, found), statements = await search_with_statements(engine, NameSearch(text="チール", mode="partial"), 50)
    names = [state["name"] for _, state in found]
    assert count == len(names) > 1 and "Ｍ＆Ｍスチール株式会社" in names  # チル, in random kana names too
    counted = [statement for statement in statements if "count(" in statement.lower()]
    index = "FROM corporation_pairs WHERE" if sqlite else "FROM corporation_trigrams WHERE"
    assert len(counted) == 1 and index in " ".join(counted[0].split())
    assert "corporations" not in counted[0].replace("corporation_trigrams", "")
    walked = [statement for statement in statements if "ORDER BY" in statement and "LIMIT" in statement][-1]
    assert ("corporation_pairs MATCH" if sqlite else "corporation_trigrams.trigram >=") in walked


async def test_a_three_character_search_is_counted_by_the_index_alone(engine: AsyncEngine, tmp_path: Path) -> None:
    await load_synthetic(engine, tmp_path)
    sqlite = engine.dialect.name == "sqlite"
    (count, found), statements = await search_with_statements(engine, NameSearch(text="海物産", mode="partial"), 2)
    async with create_session_factory(engine)() as session:
        everything = await ranked_page(session, NameSearch(text="海物産", mode="partial"), sqlite, 0, 100, None, True)
    assert (count, [key for key, _ in found]) == (everything[0], [ranked[:3] for ranked in everything[1][:2]])
    # The hidden and the deleted state are not matches; the closed one is.
    names = {state["name"] for _, state in found}
    assert count == 3 and "海物産ホールディングス株式会社" in names and "海物産サービス株式会社" not in names
    counted = [statement for statement in statements if "count(" in statement.lower()]
    index = "FROM corporation_search WHERE" if sqlite else "FROM corporation_trigrams AS anchor WHERE"
    assert len(counted) == 1 and index in " ".join(counted[0].split())
    assert "corporations" not in counted[0]
