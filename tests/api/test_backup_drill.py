"""The backup-and-restore drill (README "Backups and point-in-time recovery"): pg_dump of a serving database,
pg_restore into a fresh one, and the app serves the restored one: migrated to this build's head, the same rows,
a session issued before the backup still signed in."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import func, select, text
from sqlalchemy.pool import NullPool

from api.app import create_app
from api.demo import seed_demo
from api.identity.tokens import issue_token
from api.migrate import MIGRATIONS, migrate
from api.models import Base
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_engine, create_session_factory, dispose_engine
from tests.api.conftest import operation
from tests.conftest import POSTGRES_URL, make_settings

pytestmark = pytest.mark.postgres
LIBPQ_BASE = POSTGRES_URL.rsplit("/", 1)[0]


@pytest.fixture
def two_databases(postgres_database: str) -> Iterator[tuple[str, str]]:
    """Two fresh, empty databases (the one backed up, the one restored into); libpq URLs."""
    admin = create_sync_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                               poolclass=NullPool, isolation_level="AUTOCOMMIT")
    names = [f"mynaportal_drill_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{LIBPQ_BASE}/{names[0]}", f"{LIBPQ_BASE}/{names[1]}"
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(*command)
    assert await asyncio.wait_for(process.wait(), 120) == 0, command[0]


async def _row_counts(url: str) -> dict[str, int]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return {table.name: await connection.scalar(select(func.count()).select_from(table))
                    for table in Base.metadata.sorted_tables}
    finally:
        await dispose_engine(engine)


async def test_a_dump_restored_into_a_fresh_database_is_served(
        two_databases: tuple[str, str], cipher: IndividualNumberCipher, tmp_path: Path) -> None:
    source, target = two_databases
    settings = make_settings(source)
    await migrate(settings)
    engine = create_engine(settings.database_url, poolclass=NullPool)
    async with create_session_factory(engine)() as session, session.begin():
        seed = await seed_demo(session, cipher)
        token = await issue_token(session, seed.people[0], ttl=timedelta(hours=1))
    await dispose_engine(engine)

    dump = tmp_path / "portal.dump"
    await _run("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source)
    await _run("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={target}", str(dump))

    counts = await _row_counts(target)
    assert counts == await _row_counts(source)
    assert counts["persons"] == 3
    app = create_app(make_settings(target), owns_process=False)
    async with LifespanManager(app) as running, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=running.app), base_url="http://portal.test") as client:
        head = (MIGRATIONS / ".current-alembic-head").read_text().strip()
        assert (await client.get("/readyz")).json() == {"status": "ok", "database": "ok", "revision": head}
        viewer = await client.post("/graphql", json={"query": operation("Viewer")},
                                   headers={"authorization": f"Bearer {token}"})
        assert viewer.json()["data"]["viewer"]["name"] == "山田 太郎"
        assert viewer.json()["data"]["viewer"]["maskedIndividualNumber"] == "********0013"
