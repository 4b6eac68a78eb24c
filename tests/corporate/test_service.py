"""Name search paging: the total rides along each page, and still comes back past the last page; past
names are found by what they were."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from corporate.name_search import NameSearch
from corporate.service import search_names
from tests.corporate.conftest import load_aomori, load_synthetic


async def test_each_page_carries_the_total(engine: AsyncEngine, tmp_path: Path) -> None:
    await load_aomori(engine, tmp_path)
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


async def test_past_names_are_found_by_partial_search(engine: AsyncEngine, tmp_path: Path) -> None:
    await load_synthetic(engine, tmp_path)
    async with create_session_factory(engine)() as session:
        current = await search_names(session, NameSearch(text="北海物", mode="partial"))
        past = await search_names(session, NameSearch(text="北海物", mode="partial", include_past_names=True))
    assert current == (0, [])
    assert (past[0], [(key, state["name"]) for key, state in past[1]]) == (
        1, [((1, 4, "1000012160145"), "南海商事株式会社")])  # a prefix of its past name 北海物産
