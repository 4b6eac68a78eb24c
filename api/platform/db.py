"""The database platform: declarative base, engine and session factories for SQLite and PostgreSQL.

One codebase serves both. SQLite gets WAL, foreign keys and an explicit BEGIN (the stdlib driver would
otherwise not begin before SELECT or SAVEPOINT, so savepoints would not nest). That BEGIN is IMMEDIATE:
a deferred transaction that reads and then writes fails at once with "database is locked" when another
writer committed in between (busy_timeout does not apply to that upgrade), so every unit of work takes
the write lock up front and waits its turn. Read-only paths opt into deferred transactions, which WAL
lets run beside a writer: ``create_session_factory(engine, read_only=True)``. The hottest point reads by an
index (``PointRead``) run on the driver of connections kept from the same pool, outside a transaction.
"""

from __future__ import annotations

import asyncio
import select as select_module
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, Pool, Select, any_, bindparam, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.elements import ColumnElement
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
    if "poolclass" not in kwargs:
        # Beyond pool_size a QueuePool opens and closes a connection per checkout (several ms of CPU each, here and
        # in PostgreSQL's new backend): the same 20 at most as with 10 and an overflow of 10, but each kept once
        # opened. With the overflow, 600 payments on a loaded machine opened ~150 connections (pg_stat_database).
        kwargs.setdefault("pool_size", ENGINE_POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
    return _checked_on_checkout(create_async_engine(database_url, **kwargs), kwargs)


ENGINE_POOL_SIZE = 20  # opened as needed (the pool creates lazily), never more


def _checked_on_checkout(engine: AsyncEngine | Engine, kwargs: dict[str, Any]) -> Any:
    """Discard a pooled PostgreSQL connection that the server has closed, at checkout, without a round trip.

    ``pool_pre_ping`` sent a statement per checkout (three per payment on the portal, four on the gateway). An
    idle connection has nothing to read: when its socket is readable the server has said something unasked,
    almost always a FATAL notice before closing it (a restart, ``pg_terminate_backend``, an idle timeout), or it
    is closed; the pool then opens a new one (SQLAlchemy's pessimistic disconnect handling by a ``checkout``
    event). A server that vanished without a word is found by the first statement, as with any network failure."""
    if kwargs.get("pool_pre_ping"):  # the caller's choice, left to do its work
        return engine
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if not _idle_and_open(record.driver_connection):
            raise DisconnectionError("the server closed this pooled connection")

    return engine


def _idle_and_open(connection: Any) -> bool:
    """psycopg's connection (sync or async): not closed, and nothing unasked to read on its socket."""
    if connection is None or connection.closed or connection.broken:
        return False
    poller = select_module.poll()
    poller.register(connection.fileno(), select_module.POLLIN)
    return not poller.poll(0)


def create_sync_engine(database_url: str, **kwargs: Any) -> Engine:
    """A synchronous engine on the same database, for libraries whose hooks are synchronous (Authlib's server),
    run in a worker thread: the same drivers' sync sides (sqlite3, psycopg), the same SQLite pragmas."""
    if database_url.startswith("sqlite+aiosqlite"):
        engine = sa_create_engine(database_url.replace("sqlite+aiosqlite", "sqlite", 1), **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", ENGINE_POOL_SIZE)
    kwargs.setdefault("max_overflow", 0)
    return _checked_on_checkout(sa_create_engine(database_url, **kwargs), kwargs)  # type: ignore[no-any-return]


def _configure_sqlite(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; BEGIN is emitted below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
        dbapi_connection.create_function("text_pairs", 1, text_pairs, deterministic=True)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")


READ_ONLY_OPTION = "mynaportal_read_only"


def text_pairs(text: str | None) -> str | None:
    """SQLite's ``text_pairs(t)``: each distinct pair of adjacent characters of ``t`` that holds no U+001F (the
    separator of joined keys), as the hex of its UTF-8, separated by spaces: words an FTS5 unicode61 index
    keeps, so two-character terms can be looked up (FTS5's trigram tokenizer matches three or more).

    A Python function on every connection the app opens: SQL alone (substr over a series) took 20 us a row."""
    if not text:
        return None
    pairs = dict.fromkeys(text[i:i + 2] for i in range(len(text) - 1))
    return " ".join(pair.encode().hex() for pair in pairs if "\x1f" not in pair) or None


def create_session_factory(engine: AsyncEngine, *, read_only: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work; ``read_only=True`` for paths that never write (no write lock on SQLite)."""
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False)


def read_only_factory(session_factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """The read-only twin of a session factory (same engine and pool)."""
    return create_session_factory(session_factory.kw["bind"], read_only=True)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def dispose_engine(engine: AsyncEngine) -> None:
    """Return the connections ``PointRead`` keeps from the engine's pool, then close the pool."""
    kept = _KEPT.pop(engine.sync_engine.pool, None)
    for held in kept.slots if kept is not None else ():
        if held is not None:
            await held.release(invalidate=False)
    await engine.dispose()


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # parameter order for positional paramstyles (SQLite), else None (named)
    processors: tuple[Callable[[Any], Any] | None, ...]
    # Each parameter's bind processor, where its type has one (a UUID is 32 hex characters on SQLite).
    binders: dict[str, Callable[[Any], Any]]

    def arguments(self, params: dict[str, Any]) -> Any:
        binders = self.binders
        if binders:
            params = {key: binders[key](value) if key in binders and value is not None else value
                      for key, value in params.items()}
        return params if self.positions is None else tuple(params[key] for key in self.positions)


class PointRead:
    """A SELECT by an index for the hottest paths (every request's token lookup, ``/corporate/4/num``), run on
    the driver of a connection that the engine's own pool lends for as long as the engine lives
    (``AsyncConnection.get_raw_connection``; ``dispose_engine`` gives it back).

    Why (server CPU per ``/corporate/4/num`` request, one worker, 32 concurrent clients): SQLAlchemy's execution
    adds a BEGIN, a ROLLBACK and four aiosqlite thread hops to a one-row read; a pool checkout per read costs
    ~85 µs, and concurrent reads then wake one aiosqlite thread per connection, which fight for the GIL: ~440 µs
    (SQLite) and ~580 µs (PostgreSQL) a request, against ~190 µs and ~300 µs on kept connections. SQLite keeps
    one (its aiosqlite thread runs concurrent reads one by one), outside a transaction: the engine's connections
    are in the driver's autocommit, one statement is one snapshot. PostgreSQL keeps a few in autocommit, so reads
    wait less for each other's round trips (psycopg runs one connection's reads one by one), and psycopg prepares
    the statement on the server once it has run a few times. A connection that fails is invalidated; a read on
    one that had worked runs once more on a new one (the server may have closed it).

    The statement is compiled once per dialect and each column's result processor applies, so values come back
    typed as through the ORM, and each parameter's bind processor too (a UUID goes to SQLite as hex); no
    expanding IN.
    SQLAlchemy's cursor events do not see these reads.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}

    def _compiled_for(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver)
        compiled = self._by_dialect.get(key)
        if compiled is None:
            form = self.statement.compile(dialect=dialect)
            positions = tuple(form.positiontup) if form.positional and form.positiontup is not None else None
            processors = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                               for column in self.statement.selected_columns)
            binders = {name: process for name, bind in form.binds.items()
                       if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
            compiled = self._by_dialect[key] = _Compiled(form.string, positions, processors, binders)
        return compiled

    async def rows(self, engine: AsyncEngine, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        compiled = self._compiled_for(engine.dialect)
        arguments = compiled.arguments(params)
        while True:
            held = await _HeldConnection.of(engine)
            try:
                fetched = await held.fetch(compiled.sql, arguments)
                break
            except BaseException as error:
                retry = isinstance(error, Exception) and held.served > 0
                await held.release(invalidate=True)
                if not retry:
                    raise
        held.served += 1
        processors = compiled.processors
        return [tuple(value if process is None or value is None else process(value)
                      for value, process in zip(row, processors, strict=True)) for row in fetched]

    async def first(self, engine: AsyncEngine, params: dict[str, Any]) -> tuple[Any, ...] | None:
        found = await self.rows(engine, params)
        return found[0] if found else None


# Point reads in flight at once per worker on PostgreSQL (each kept connection runs one at a time). SQLite keeps
# one: every aiosqlite connection has its own thread, and more threads fight for the GIL.
POSTGRES_KEPT_CONNECTIONS = 4


class _Kept:
    """The connections ``PointRead`` keeps from one pool, taken in turn."""

    def __init__(self, size: int) -> None:
        self.slots: list[_HeldConnection | None] = [None] * size
        self.turn = 0


class _HeldConnection:
    """One kept connection (bound to the event loop that opened it, as its driver's connection is)."""

    def __init__(self, kept: _Kept, slot: int, connection: AsyncConnection, driver: Any) -> None:
        self.kept = kept
        self.slot = slot
        self.connection = connection
        self.driver = driver
        self.sqlite = connection.dialect.name == "sqlite"
        self.loop = asyncio.get_running_loop()
        self.served = 0

    @classmethod
    async def of(cls, engine: AsyncEngine) -> _HeldConnection:
        pool = engine.sync_engine.pool
        kept = _KEPT.get(pool)
        if kept is None:
            kept = _KEPT[pool] = _Kept(1 if is_sqlite(engine) else POSTGRES_KEPT_CONNECTIONS)
        slot = kept.turn = (kept.turn + 1) % len(kept.slots)
        held = kept.slots[slot]
        if held is not None and held.loop is asyncio.get_running_loop():
            return held
        # None yet, or one of another event loop (tests), which cannot be closed from this one: left to the collector.
        connection = await engine.connect()
        try:
            if not is_sqlite(engine):
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            driver = (await connection.get_raw_connection()).driver_connection
        except BaseException:
            await connection.close()
            raise
        held = kept.slots[slot]
        if held is not None and held.loop is asyncio.get_running_loop():  # a concurrent read kept one first
            await connection.close()
            return held
        held = kept.slots[slot] = cls(kept, slot, connection, driver)
        return held

    async def fetch(self, sql: str, arguments: Any) -> list[Any]:
        if self.sqlite:
            return list(await self.driver.execute_fetchall(sql, arguments))
        async with self.driver.cursor() as cursor:
            await cursor.execute(sql, arguments)
            return await cursor.fetchall()  # type: ignore[no-any-return]

    async def release(self, *, invalidate: bool) -> None:
        if self.kept.slots[self.slot] is self:
            self.kept.slots[self.slot] = None
        if self.connection.closed:
            return  # concurrent reads on a failed connection: the first one released it
        if invalidate:  # SQLAlchemy did not see what failed on the driver: the pool must not lend it again
            await self.connection.invalidate()
        await self.connection.close()


_KEPT: weakref.WeakKeyDictionary[Pool, _Kept] = weakref.WeakKeyDictionary()


def chunks_among(engine: AsyncEngine, column: Any, ids: Sequence[Any]) -> Iterator[ColumnElement[bool]]:
    """``column`` among ``ids``, as few conditions as the database takes well: on PostgreSQL one array parameter
    (``= ANY(:ids)``) per 10,000 ids, elsewhere an ``IN`` list of 500 (each id a bound parameter)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        for start in range(0, len(ids), 10_000):
            yield column == any_(bindparam(None, list(ids[start:start + 10_000]), type_=ARRAY(column.type)))
    else:
        for start in range(0, len(ids), 500):
            yield column.in_(ids[start:start + 500])

