"""One ranked pass: the total rides along the page as a window count."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from corporate.name_search import NameSearch
from tests.corporate.conftest import load_aomori, search_with_statements


async def test_a_counted_page_reads_the_matches_once(engine: AsyncEngine, tmp_path: Path) -> None:
    await load_aomori(engine, tmp_path)
    # One character: no index holds it, so the search is one ranked pass (longer keys walk an index).
    (count, found), statements = await search_with_statements(engine, NameSearch(text="森", mode="partial"), 10)
    assert (count, len(found)) == (3, 3)
    searches = [statement for statement in statements if "corporations" in statement]
    assert len(searches) == 2  # the ranked page with its window count, then the page's rows by id
    assert "over ()" in searches[0].lower()
