"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from MYNAPORTAL_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
Each test session creates its own database there and drops it at the end. With CI=true an unreachable
PostgreSQL fails the tests; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import NullPool

import api.models  # noqa: F401 (every table known before the cleanup statements are built, once)
from api.applications.offerings import forget_offered
from api.migrate import migrate
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import Base, create_engine, create_session_factory, dispose_engine
from api.platform.logs import install_redaction
from api.platform.settings import PROJECT_ROOT, Settings
from tests.log_guard import LogGuard

POSTGRES_URL = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
# The SoftHSM2 token fixtures (softhsm, hsm_source) of the PKCS#11 key source's tests.
pytest_plugins = ["tests.softhsm"]
TEST_DATA_KEY = bytes(range(32))
TEST_LOOKUP_KEY = bytes(range(32, 64))


def _postgres_admin_url() -> str:
    return POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; its async URL."""
    admin = create_sync_engine(_postgres_admin_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"mynaportal_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # unreachable server, refused auth, ...
        admin.dispose()
        message = f"PostgreSQL at {POSTGRES_URL} is required: {type(error).__name__}: {error}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    base = _postgres_admin_url().rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database of each kind, shared by the session (tests clean up after themselves)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")
    asyncio.run(migrate(make_settings(url)))
    return url


def make_settings(database_url: str = "sqlite+aiosqlite:///:memory:", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_key": TEST_DATA_KEY,
        "lookup_key": TEST_LOOKUP_KEY,
        "operations_dir": PROJECT_ROOT / "graphql" / "operations",
        # One sandbox municipal CA for every test process (generated once, atomically), not in the checkout's var/.
        "certificate_pki_dir": Path(tempfile.gettempdir()) / "mynaportal-test-certificate-pki",
    }
    if overrides.get("environment") == "production":
        values["certificate_pki_dir"] = None  # production refuses the sandbox's keys (and issues nothing without)
        # Production refuses to start the OpenID Provider without its own ID-token key (not the demo's).
        values["oidc_signing_keys"] = ((1, hashlib.sha256(b"test OpenID Provider key").digest()),)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def cipher() -> IndividualNumberCipher:
    return IndividualNumberCipher(TEST_DATA_KEY, TEST_LOOKUP_KEY)


@pytest.fixture
async def engine(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the shared database. Unless the test ran in a rolled-back transaction (``session``), every
    table is emptied after it, so the next one starts from a migrated, empty database."""
    engine = create_engine(database_url, poolclass=NullPool)
    yield engine
    if not request.node.stash.get(ROLLED_BACK, False):
        await empty_tables(engine)
    await dispose_engine(engine)


async def empty_tables(engine: AsyncEngine) -> None:
    """Every table emptied, children before parents, in one or two round trips: one DELETE per table (82) took
    ~25 ms of the test process' CPU per test on either database, and ~2,000 tests do it. The process's copy of
    the municipalities' offerings goes too: it would otherwise outlive the rows for up to 30 s."""
    forget_offered()
    if engine.dialect.name == "sqlite":
        # One script, one trip to aiosqlite's thread; a DELETE of an empty SQLite table costs microseconds.
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            await raw.driver_connection.executescript(_sqlite_script())  # type: ignore[union-attr]
        return
    async with engine.begin() as connection:
        # Which tables hold rows, in one query; then one block deleting from those only (one round trip).
        held = set((await connection.exec_driver_sql(_postgres_probe())).scalars())
        for table in held & set(BULK_TABLES):
            if await connection.scalar(text(
                    f"SELECT count(*) > 1000 FROM (SELECT 1 FROM {table} LIMIT 1001) AS head")):  # noqa: S608
                await connection.execute(text(f"TRUNCATE {table} CASCADE"))
        deletes = [_delete(table.name) for table in reversed(Base.metadata.sorted_tables) if table.name in held]
        if deletes:
            await connection.exec_driver_sql(f"DO $$ BEGIN {' '.join(deletes)} END $$")


# The statements below are built from the models' own table names (no input reaches them).
def _delete(name: str) -> str:
    return f'DELETE FROM "{name}";'  # noqa: S608


@functools.cache
def _postgres_probe() -> str:
    return " UNION ALL ".join(f"""SELECT '{table.name}' WHERE EXISTS (SELECT FROM "{table.name}")"""  # noqa: S608
                              for table in Base.metadata.sorted_tables)


@functools.cache
def _sqlite_script() -> str:
    return "\n".join(["BEGIN IMMEDIATE;", *map(_delete, (t.name for t in reversed(Base.metadata.sorted_tables))),
                      "COMMIT;"])


ROLLED_BACK = pytest.StashKey[bool]()
# Tables tests fill in bulk (the NTA files: 37,160 corporations, each with trigram postings kept by triggers):
# on PostgreSQL a DELETE removes every row's postings through the index (~30 s after the real files on a loaded
# machine with migration 0008's row trigger); TRUNCATE's own trigger empties the postings at once.
BULK_TABLES = ("corporations",)
# Fixtures that open no connection of their own: a test that uses only these besides ``session`` runs in a
# transaction that is rolled back.
_NO_CONNECTION_FIXTURES = frozenset({
    "session", "engine", "database_url", "postgres_database", "cipher", "repo_root", "request", "tmp_path",
    "tmp_path_factory", "monkeypatch", "caplog", "capsys", "capfd", "recwarn", "event_loop_policy",
})


@pytest.fixture
async def session(request: pytest.FixtureRequest, engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """The test's session. When nothing else in the test opens a connection (no app, worker, process or second
    session), it runs inside one outer transaction that is rolled back at the end: its commits only release
    savepoints, and nothing needs deleting. Otherwise the others must see its commits: it commits for real and
    ``engine`` empties the tables afterwards."""
    others = {name for name in request.fixturenames if not name.startswith("_")} - _NO_CONNECTION_FIXTURES
    direct = set(inspect.signature(request.function).parameters)
    if others or direct & {"engine", "database_url"}:
        async with create_session_factory(engine)() as session:
            yield session
        return
    request.node.stash[ROLLED_BACK] = True
    async with engine.connect() as connection:
        outer = await connection.begin()
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as session:
            yield session
        await outer.rollback()


@pytest.fixture
def repo_root() -> Path:
    return PROJECT_ROOT


LOG_GUARD = LogGuard()


@pytest.fixture(scope="session", autouse=True)
def no_individual_number_in_any_log() -> Iterator[LogGuard]:
    """Every log record of the whole suite (INFO and up; SQL echo aside) is searched for the demo people's
    individual numbers in any common spelling; a leak fails the session at its end, naming test and logger.
    Tests that run processes pass their output to ``LOG_GUARD.check``."""
    install_redaction()  # as every process of the portal does (the app, each command)
    root, sql = logging.getLogger(), logging.getLogger("sqlalchemy")
    levels = root.level, sql.level
    root.setLevel(min(root.getEffectiveLevel(), logging.INFO))
    sql.setLevel(sql.level or logging.WARNING)  # statements are not logs a client's input reaches
    root.addHandler(LOG_GUARD)
    yield LOG_GUARD
    root.removeHandler(LOG_GUARD)
    root.setLevel(levels[0])
    sql.setLevel(levels[1])
    if LOG_GUARD.leaks:
        pytest.fail(f"individual numbers reached the logs:\n{LOG_GUARD.report()}", pytrace=False)


@pytest.hookimpl(trylast=True)  # after pytest's own grouping by parametrised session and module fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (tens of seconds each) run first, in their collected order. xdist's worksteal hands
    each worker a contiguous half and steals from the end of the longer queue: a slow test collected last would
    leave the other worker idle until it ends; first, the short tests fill in around it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    LOG_GUARD.current = item.nodeid
