"""This process's recently authenticated sessions, used only while the database has not changed them.

Every person's request starts with the token lookup (api.identity.authentication), and an app's requests
come in bursts with one token. The cache keeps what the lookup found (``AuthenticatedPerson``: the token's
id, scopes, expiry and revocation, its person and the person's municipality, all immutable, so requests
share it); each request still checks expiry against the clock. The whole cache is dropped whenever any of
those rows may have changed:

- by this process, through any of its engines: when it runs an UPDATE or DELETE on session tokens, people
  or municipalities, when that transaction commits, and when its connection goes back to the pool (the
  commit is then done). A fill that started before a drop is not stored (``generation``), so a revoked
  token fails on the very next request. (A statement written as raw SQL text is not recognised here; it is
  seen as another process's change, below.)
- by another process (the CLI, another worker):
  - SQLite: ``PRAGMA data_version`` of the reader's inline connection changes when any other connection
    commits. It is read at most every ``CHANGE_POLL_SECONDS`` (0.1 s): the read takes SQLite's file locks,
    a few system calls that cost a cached request a tenth of its time;
  - PostgreSQL: migration 0007's triggers send ``session_rows_changed`` from any transaction that updates or
    deletes those rows, delivered at its commit, and each process's LISTEN connection (``listen_for_changes``)
    drops the cache on every one. Nothing is used while that connection is not listening.

So another process's change takes effect here within 0.1 s (SQLite) or once its notification arrives
(PostgreSQL, milliseconds). A token the lookup does not find is never kept: a new token works at once, and
made-up tokens cannot fill memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Engine, Pool, event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.db import Reader

CHANNEL = "session_rows_changed"
CHANGE_POLL_SECONDS = 0.1
# The tables whose rows the token lookup reads.
WATCHED_TABLES = frozenset({"session_tokens", "persons", "municipalities"})
logger = logging.getLogger("api.identity.session_cache")
# This process's caches: a write to the watched tables through any engine drops them all.
_CACHES: weakref.WeakSet[SessionCache] = weakref.WeakSet()


class SessionCache:
    """What the lookup found, by token hash, at most ``max_entries`` (the oldest fill leaves first; 0 keeps
    none)."""

    def __init__(self, reader: Reader, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.generation = 0
        self._kept: dict[bytes, Any] = {}
        # SQLite polls data_version; PostgreSQL waits for its listener before using anything.
        self._reader = reader if reader.inline_changes else None
        self._clock = clock
        self._data_version: int | None = None
        self._next_poll = 0.0
        self.listening = self._reader is not None
        _CACHES.add(self)

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0

    def get(self, token_hash: bytes) -> Any:
        """What was found for this token hash, unless it may have changed since (else None)."""
        if not self.max_entries:
            return None
        if self._reader is not None:
            now = self._clock()
            if now >= self._next_poll:
                self._next_poll = now + CHANGE_POLL_SECONDS
                version = self._reader.data_version()
                if version != self._data_version:
                    self.drop()
                    self._data_version = version
        return self._kept.get(token_hash) if self.listening else None

    def put(self, token_hash: bytes, found: Any, generation: int) -> None:
        """Keep what a lookup read in ``generation`` found (read ``self.generation`` before the lookup)."""
        if generation != self.generation or not self.listening or not self.max_entries:
            return
        if self._reader is not None and self._data_version is None:
            return  # SQLite: no change can be told apart before data_version was first read (in get)
        kept = self._kept
        if len(kept) >= self.max_entries and token_hash not in kept:
            del kept[next(iter(kept))]
        kept[token_hash] = found

    def drop(self) -> None:
        self.generation += 1
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


def _wrote_watched(context: Any) -> bool:
    if context is None or not (context.isupdate or context.isdelete) or context.compiled is None:
        return False
    table = getattr(context.compiled.statement, "table", None)
    return getattr(table, "name", None) in WATCHED_TABLES


def _drop_all() -> None:
    for cache in list(_CACHES):
        cache.drop()


# Every engine and pool of the process, so a write through any of them (the app's, a command's, a test's)
# reaches every cache here.
@event.listens_for(Engine, "after_cursor_execute")
def _after_execute(connection: Any, _cursor: Any, _statement: Any, _parameters: Any, context: Any,
                   _executemany: bool) -> None:
    if _wrote_watched(context):
        connection.info["session_rows_written"] = True
        _drop_all()


@event.listens_for(Engine, "commit")
def _on_commit(connection: Any) -> None:
    if connection.info.get("session_rows_written"):
        _drop_all()


@event.listens_for(Pool, "checkin")
def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None and record.info.pop("session_rows_written", False):
        _drop_all()


@contextlib.asynccontextmanager
async def listen_for_changes(engine: AsyncEngine, cache: SessionCache) -> AsyncIterator[None]:
    """PostgreSQL: LISTEN for changed session rows while the app runs (a no-op on SQLite)."""
    if engine.dialect.name != "postgresql" or not cache.enabled:
        yield
        return
    task = asyncio.create_task(_listen(engine, cache))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cache.listening = False
        cache.drop()


async def _listen(engine: AsyncEngine, cache: SessionCache) -> None:
    import psycopg

    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                # Anything kept before now may have changed unheard.
                cache.drop()
                cache.listening = True
                async for _ in connection.notifies():
                    cache.drop()
        except asyncio.CancelledError:
            raise
        except Exception:  # a dropped connection: use no kept row until listening again
            logger.warning("session change listener lost its connection; reconnecting", exc_info=True)
        finally:
            cache.listening = False
            cache.drop()
        await asyncio.sleep(1)
