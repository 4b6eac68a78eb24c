"""Name search paging: the total rides along each page, and still comes back past the last page."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import create_session_factory
from corporate.importer import import_files
from corporate.service import NameSearch, search_names
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


async def test_a_counted_page_reads_the_matches_once(engine: AsyncEngine, tmp_path: Path) -> None:
    await _load(engine, tmp_path)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute's statement)
    event.listen(engine.sync_engine, "before_cursor_execute", listener)
    try:
        async with create_session_factory(engine)() as session:
            count, found = await search_names(session, NameSearch(text="青森", mode="partial"), limit=10)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listener)
    assert (count, len(found)) == (3, 3)
    searches = [statement for statement in statements if "corporations" in statement]
    assert len(searches) == 2  # the ranked page with its window count, then the page's rows by id
    assert "over ()" in searches[0].lower()
