"""The database platform: declarative base, engine and session factories for SQLite and PostgreSQL.

One codebase serves both. SQLite gets WAL, foreign keys and an explicit BEGIN (the stdlib driver would
otherwise not begin before SELECT or SAVEPOINT, so savepoints would not nest). That BEGIN is IMMEDIATE:
a deferred transaction that reads and then writes fails at once with "database is locked" when another
writer committed in between (busy_timeout does not apply to that upgrade), so every unit of work takes
the write lock up front and waits its turn. Read-only paths opt into deferred transactions, which WAL
lets run beside a writer: ``create_session_factory(engine, read_only=True)``.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, DateTime, Engine, MetaData, Select, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        # Beyond pool_size a QueuePool opens and closes a connection per checkout (several ms each): keep
        # enough for a worker's concurrent sessions, with overflow only for bursts.
        kwargs.setdefault("pool_size", ENGINE_POOL_SIZE)
        kwargs.setdefault("max_overflow", ENGINE_POOL_SIZE)
    return create_async_engine(database_url, **kwargs)


ENGINE_POOL_SIZE = 10


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; BEGIN is emitted below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")


READ_ONLY_OPTION = "mynaportal_read_only"


def create_session_factory(engine: AsyncEngine, *, read_only: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work; ``read_only=True`` for paths that never write (no write lock on SQLite)."""
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False)


def read_only_factory(session_factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """The read-only twin of a session factory (same engine and pool)."""
    return create_session_factory(session_factory.kw["bind"], read_only=True)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


T = TypeVar("T")
# One event loop gains nothing from more concurrent hot reads; a fixed pool never churns connections.
READER_POOL_SIZE = 8


class Reader:
    """Runs a read-only function of a sync ``Connection`` the cheapest way each backend allows.

    SQLite: aiosqlite pays a thread hop for every DBAPI call (a one-row lookup costs ~1.1 ms here); the
    stdlib driver does the whole read in one worker-thread hop (~0.14 ms), or, with ``inline=True``, on the
    event loop itself on one kept connection (~0.05 ms), on connections that are ``query_only``. Inline is
    only for bounded lookups by an index (a few rows, no scan): the loop is blocked while the read runs.
    PostgreSQL: ``rows``/``first`` run a ``RawSelect`` straight on psycopg's async connections
    (``PostgresReads``); ``run`` uses the engine in autocommit (no BEGIN/ROLLBACK round trips). ``inline``
    is ignored there. For hot read paths; units of work keep using sessions.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        # Inline reads run one at a time on the event loop's thread: one connection serves them all
        # (a pool checkout and return cost more than the lookup itself).
        self._inline: Connection | None = None
        self._postgres: PostgresReads | None = None
        # Called with the SQL of every RawSelect this reader runs, on either backend (tests, tracing).
        self.statement_listeners: list[Callable[[str], None]] = []
        database = engine.url.database or ""
        if engine.dialect.name == "sqlite" and database not in ("", ":memory:"):
            self._sync = create_sync_engine(engine.url.set(drivername="sqlite"),
                                            connect_args={"check_same_thread": False})

            @event.listens_for(self._sync, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA query_only=ON")
                cursor.execute("PRAGMA busy_timeout=5000")
                cursor.close()
        elif engine.dialect.driver == "psycopg":
            self._postgres = PostgresReads(engine.url, engine.dialect, READER_POOL_SIZE)

    async def rows(self, statement: RawSelect, params: dict[str, Any], *, inline: bool = False
                   ) -> list[tuple[Any, ...]]:
        for listener in self.statement_listeners:
            listener(statement.sql_for(self._engine.dialect))
        if self._postgres is not None:
            return await self._postgres.rows(statement, params)
        return await self.run(lambda connection: statement.rows(connection, params), inline=inline)

    async def first(self, statement: RawSelect, params: dict[str, Any], *, inline: bool = False
                    ) -> tuple[Any, ...] | None:
        found = await self.rows(statement, params, inline=inline)
        return found[0] if found else None

    async def run(self, work: Callable[[Connection], T], *, inline: bool = False) -> T:
        if self._sync is not None:
            return self._run_inline(work) if inline else await asyncio.to_thread(self._run_sync, work)
        # PostgreSQL, or in-memory SQLite (only the engine's own connection sees that data).
        async with self._engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            return await connection.run_sync(work)

    def _run_sync(self, work: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        with self._sync.connect() as connection:
            return work(connection)

    def _inline_connection(self) -> Connection:
        assert self._sync is not None
        connection = self._inline
        if connection is None or connection.invalidated or connection.closed:
            if connection is not None:
                connection.close()
            connection = self._inline = self._sync.connect()
        return connection

    def _run_inline(self, work: Callable[[Connection], T]) -> T:
        connection = self._inline_connection()
        try:
            return work(connection)
        finally:
            # Core statements autobegin; end it so the next read sees what was committed since.
            if connection.in_transaction():
                connection.rollback()

    @property
    def inline_changes(self) -> bool:
        """Whether ``data_version`` is available (SQLite in a file)."""
        return self._sync is not None

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version`` on the inline connection: it changes whenever any other connection
        (this process's writers, another process) commits. On the DBAPI connection itself (~2 µs): the
        pragma opens no transaction, and SQLAlchemy's per-statement work would cost ten times the read."""
        dbapi_connection = self._inline_connection().connection.dbapi_connection
        assert dbapi_connection is not None
        return dbapi_connection.execute("PRAGMA data_version").fetchone()[0]  # type: ignore[no-any-return]

    @property
    def sync_engines(self) -> list[Engine]:
        """The engines that execute this reader's statements (for instrumentation and tests)."""
        return [self._sync] if self._sync is not None else [self._engine.sync_engine]

    async def dispose(self) -> None:
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._sync is not None:
            self._sync.dispose()
        if self._postgres is not None:
            await self._postgres.close()


class PostgresReads:
    """A few psycopg ``AsyncConnection`` in autocommit, used directly for ``RawSelect``.

    SQLAlchemy's async facade (pool checkout, greenlet bridge, adapted cursor) costs about twice the query
    itself here: a one-row lookup takes ~700 µs of CPU through it and ~220 µs straight on psycopg (which
    also prepares a statement server-side once it has run five times on a connection). Connections are
    opened lazily, at most ``size``; a read on a connection the server closed runs once more on a new one.
    """

    def __init__(self, url: URL, dialect: Dialect, size: int) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._dialect = dialect
        self._size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def rows(self, statement: RawSelect, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        compiled = statement.compiled_for(self._dialect)
        arguments = compiled.arguments(params)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._loop, self._slots, self._idle = loop, asyncio.Semaphore(self._size), []
        assert self._slots is not None
        async with self._slots:
            for attempt in (1, 2):
                reused = bool(self._idle)
                connection = self._idle.pop() if reused else await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True)
                try:
                    async with connection.cursor() as cursor:
                        await cursor.execute(compiled.sql, arguments)
                        fetched = await cursor.fetchall()
                except psycopg.OperationalError:
                    broken = connection.broken
                    await connection.close()
                    if broken and reused and attempt == 1:
                        continue  # closed by the server while idle (restart, timeout): a read can run again
                    raise
                except BaseException:
                    await connection.close()
                    raise
                self._idle.append(connection)
                return compiled.processed(fetched)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


_readers: weakref.WeakKeyDictionary[AsyncEngine, Reader] = weakref.WeakKeyDictionary()


def reader_for(engine: AsyncEngine) -> Reader:
    """The engine's one Reader (its thread-side pool is shared by every caller)."""
    reader = _readers.get(engine)
    if reader is None:
        reader = _readers[engine] = Reader(engine)
    return reader


async def dispose_engine(engine: AsyncEngine) -> None:
    """Close the engine's pool and its Reader's."""
    reader = _readers.pop(engine, None)
    if reader is not None:
        await reader.dispose()
    await engine.dispose()


@dataclass(frozen=True)
class CompiledRead:
    sql: str
    positions: tuple[str, ...] | None  # parameter order for positional paramstyles, else None (named)
    processors: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, params: dict[str, Any]) -> Any:
        return params if self.positions is None else tuple(params[key] for key in self.positions)

    def processed(self, fetched: list[Any]) -> list[tuple[Any, ...]]:
        processors = self.processors
        return [tuple(value if process is None or value is None else process(value)
                      for value, process in zip(row, processors, strict=True)) for row in fetched]


class RawSelect:
    """A Core SELECT compiled once per dialect and run straight on the DBAPI cursor.

    For the hottest point reads (every request's token lookup, ``/4/num``): SQLAlchemy's per-execution
    work (cache key, context, result metadata) costs a one-row lookup ~100 µs on SQLite, the driver
    itself ~20 µs. Parameters go to the driver as given, so pass driver-ready values (str, bytes, int);
    each column's result processor still applies, so values come back typed as through the ORM. The
    engine's cursor events still fire (statement counting, tracing). No expanding IN parameters.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[tuple[str, str], CompiledRead] = {}

    def sql_for(self, dialect: Dialect) -> str:
        return self.compiled_for(dialect).sql

    def compiled_for(self, dialect: Dialect) -> CompiledRead:
        key = (dialect.name, dialect.driver)  # drivers of one database differ in paramstyle
        compiled = self._by_dialect.get(key)
        if compiled is None:
            form = self.statement.compile(dialect=dialect)
            processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                               for column in self.statement.selected_columns)
            positions = tuple(form.positiontup) if form.positional and form.positiontup is not None else None
            compiled = self._by_dialect[key] = CompiledRead(form.string, positions, processors)
        return compiled

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        compiled = self.compiled_for(connection.dialect)
        arguments = compiled.arguments(params)
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        dispatch = connection.dispatch
        try:
            if dispatch.before_cursor_execute:
                for listener in dispatch.before_cursor_execute:
                    listener(connection, cursor, compiled.sql, arguments, None, False)
            cursor.execute(compiled.sql, arguments)
            fetched = cursor.fetchall()
            if dispatch.after_cursor_execute:
                for listener in dispatch.after_cursor_execute:
                    listener(connection, cursor, compiled.sql, arguments, None, False)
        finally:
            cursor.close()
        return compiled.processed(fetched)

    def first(self, connection: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(connection, params)
        return found[0] if found else None
