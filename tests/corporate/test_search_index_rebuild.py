"""The search indexes after a bulk load: whole, and on PostgreSQL the postings vacuumed (all-visible, so a
search counts them from the index alone)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from corporate.importer import import_files
from tests.corporate.conftest import assert_search_index_is_sound, awkward_file


async def test_a_bulk_load_rebuilds_the_search_indexes(engine: AsyncEngine, tmp_path: Path) -> None:
    report = await import_files(engine, [awkward_file(tmp_path)])
    sqlite = engine.dialect.name == "sqlite"
    assert report.bulk
    assert [phase for phase in ("fts", "trigrams", "vacuum") if phase in report.phases] == (
        ["fts"] if sqlite else ["trigrams", "vacuum"])
    await assert_search_index_is_sound(engine)
    if not sqlite:
        async with engine.connect() as connection:
            visible = await connection.scalar(text(
                "SELECT relallvisible FROM pg_class WHERE relname = 'corporation_trigrams'"))
        assert visible > 0
