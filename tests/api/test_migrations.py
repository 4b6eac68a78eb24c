from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

import api.models  # noqa: F401
from api.migrate import MIGRATIONS, alembic_config, downgrade_on, upgrade_on
from api.platform.db import Base
from corporate.models import include_name


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"include_name": include_name})
    return compare_metadata(context, Base.metadata)


async def test_downgrade_to_empty_and_upgrade_again(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        assert await connection.run_sync(_tables) >= set(Base.metadata.tables)
        await connection.run_sync(downgrade_on, "base")
        assert await connection.run_sync(_tables) == set()
        await connection.run_sync(upgrade_on, "head")
        assert await connection.run_sync(_tables) >= set(Base.metadata.tables)


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []


def test_head_file_names_the_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [(MIGRATIONS / ".current-alembic-head").read_text().strip()]


def test_migration_files_are_numbered() -> None:
    names = sorted(p.name for p in Path(MIGRATIONS, "versions").glob("*.py"))
    assert names and all(name[:4].isdigit() and name[4] == "_" for name in names)
