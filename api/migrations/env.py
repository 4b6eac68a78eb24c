"""Alembic environment: runs on a connection handed over by api.migrate, or opens its own."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.pool import NullPool

import api.models  # noqa: F401  (registers every table on the metadata)
from api.models import comparison_options
from api.platform.db import Base, create_engine

target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Fail fast instead of queueing behind live traffic; one migrator at a time.
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        connection.execute(text("SET LOCAL statement_timeout = '10min'"))
        connection.execute(text("SELECT pg_advisory_xact_lock(7264917)"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The corporate FTS5 tables and the record's partitions belong to the migrations, not the ORM.
        **comparison_options(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    asyncio.run(run_online())
