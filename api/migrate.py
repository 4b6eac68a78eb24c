"""Alembic, driven from code: the URL comes from settings, never from an ini file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

from api.platform.db import create_engine
from api.platform.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(str(connection.engine.url), connection), revision)


def downgrade_on(connection: Connection, revision: str = "base") -> None:
    command.downgrade(alembic_config(str(connection.engine.url), connection), revision)


async def migrate(settings: Settings, revision: str = "head") -> None:
    if settings.database_url.startswith("sqlite"):
        _ensure_sqlite_folder(settings.database_url)
    engine = create_engine(settings.database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_on, revision)
    finally:
        await engine.dispose()


def migrate_sync(settings: Settings, revision: str = "head") -> None:
    asyncio.run(migrate(settings, revision))


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
