"""The bulk load into an empty table: the same end state as batch by batch, the migrations' schema,
statistics for the planner, and an interrupted load leaving an empty table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

import api.models  # noqa: F401  (every table in the metadata the migrations are compared with)
from api.models import comparison_options
from api.platform.db import Base
from corporate.importer import import_files
from corporate.models import Corporation
from tests.corporate.conftest import (
    NUMBER,
    assert_search_index_is_sound,
    awkward_file,
    count_corporations,
    empty_corporations,
    row,
    states_of,
    stored_rows,
    write_csv,
)


async def _schema(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """The table's indexes, constraints and triggers as the database spells them."""
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            query = ("SELECT type, name, sql FROM sqlite_master WHERE tbl_name LIKE 'corporation%' "
                     "ORDER BY type, name")
        else:
            query = ("SELECT indexname, indexdef FROM pg_indexes "
                     "WHERE tablename IN ('corporations', 'corporation_trigrams') UNION ALL "
                     "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                     "WHERE conrelid IN ('corporations'::regclass, 'corporation_trigrams'::regclass) UNION ALL "
                     "SELECT tgname, tgenabled::text FROM pg_trigger "
                     "WHERE tgrelid = 'corporations'::regclass AND NOT tgisinternal ORDER BY 1, 2")
        return list((await connection.exec_driver_sql(query)).all())


async def test_a_bulk_load_ends_as_batch_by_batch_does_with_the_schema_intact(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = awkward_file(tmp_path)
    schema = await _schema(engine)
    rejected: list[tuple[int, str]] = []
    bulk = await import_files(engine, [path], batch_size=64, on_reject=lambda r: rejected.append((r.line, r.reason)))
    assert bulk.bulk and (bulk.rows_read, bulk.inserted, bulk.rejected) == (309, 305, 2)
    assert rejected == [(307, "corporateNumber is not 13 digits with a valid check digit"), (308, "empty line")]
    assert await _schema(engine) == schema
    await assert_search_index_is_sound(engine)
    assert await states_of(engine, NUMBER) == [("古い名前株式会社", "2016-01-05", False),
                                              ("新しい名前株式会社", "2016-02-10", True)]
    loaded = await stored_rows(engine)
    again = await import_files(engine, [path])
    assert not again.bulk and (again.inserted, again.unchanged) == (0, 307)

    await empty_corporations(engine)
    batched = await import_files(engine, [path], batch_size=64, bulk=False)
    assert not batched.bulk and batched.inserted == 305
    assert await stored_rows(engine) == loaded


async def test_the_bulk_path_runs_the_migrations_schema(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_files(engine, [awkward_file(tmp_path)])
    async with engine.connect() as connection:
        assert await connection.run_sync(_metadata_diff) == []


async def _analyzed(engine: AsyncEngine) -> int:
    """How many times `corporations` was analyzed by hand (PostgreSQL), or its statistics rows (SQLite)."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            if not await connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")):
                return 0
            return await connection.scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'corporations'"))
        return await connection.scalar(text(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'corporations'"))


async def test_a_bulk_load_leaves_statistics_for_the_planner(engine: AsyncEngine, tmp_path: Path) -> None:
    if engine.dialect.name == "sqlite":
        async with engine.begin() as connection:  # statistics outlive the rows of earlier tests
            if await connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")):
                await connection.execute(text("DELETE FROM sqlite_stat1"))
    before = await _analyzed(engine)
    report = await import_files(engine, [awkward_file(tmp_path)])
    assert report.bulk and "analyze" in report.phases
    assert await _analyzed(engine) > before


def _metadata_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts=comparison_options(connection.dialect.name))
    return compare_metadata(context, Base.metadata)


class _Interrupt(Exception):
    pass


class _FailingProgress:
    """Stops the import after its first batch, as Ctrl-C or a lost connection would."""

    def start(self, total_bytes: int) -> None:
        pass

    def advance(self, rows: int, size: int) -> None:
        raise _Interrupt

    def phase(self, name: str) -> None:
        pass

    def finish(self) -> None:
        pass


async def test_an_interrupted_bulk_load_leaves_an_empty_table_and_runs_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = awkward_file(tmp_path)
    schema = await _schema(engine)
    with pytest.raises(_Interrupt):
        await import_files(engine, [path], batch_size=64, progress=_FailingProgress())
    assert await count_corporations(engine) == 0
    assert await _schema(engine) == schema
    report = await import_files(engine, [path])
    assert report.bulk and report.inserted == 305
    await assert_search_index_is_sound(engine)


async def test_what_copy_text_escapes_is_stored_as_written(engine: AsyncEngine, tmp_path: Path) -> None:
    """PostgreSQL's bulk load sends COPY text made by the parser (import_rows.copy_line): a backslash and a tab
    in a name come back as they were, as from the batch path."""
    path = write_csv(tmp_path / "escapes.csv", [row(1, NUMBER, "円\\記号\t株式会社", en_name="Back\\slash Co.")])
    at = datetime(2026, 12, 5, 4, 30, 15, 123456, tzinfo=UTC)
    assert (await import_files(engine, [path], now=at)).bulk
    assert await states_of(engine, NUMBER) == [("円\\記号\t株式会社", "2016-01-05", True)]
    async with engine.connect() as connection:
        stored = await connection.scalar(select(Corporation.imported_at))
    assert stored == at
    loaded = await stored_rows(engine)
    await empty_corporations(engine)
    assert not (await import_files(engine, [path], bulk=False)).bulk
    assert await stored_rows(engine) == loaded
