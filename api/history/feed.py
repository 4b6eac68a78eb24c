"""Wakes a person's live record feed when an entry is added to their record.

PostgreSQL: a trigger on exchange_records and access_records (migration 0016) sends ``pg_notify('record_added',
person id)``, delivered on commit; one LISTEN connection per process wakes that person's feeds, whichever worker
or job wrote the row. The feed also looks every ``FALLBACK_SECONDS`` in case a notification was lost with a
dropped connection. SQLite (one process, no notifications): the feed looks every ``POLL_SECONDS``. Either way the
feed then reads the record itself: the wake-up carries only a person id, never the entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

CHANNEL = "record_added"
POLL_SECONDS = 0.5  # SQLite: a new entry reaches the app within about half a second
FALLBACK_SECONDS = 5.0
logger = logging.getLogger("api.history.feed")


class Wakeup:
    """One open feed: set when its person's record may have grown."""

    def __init__(self, interval: float) -> None:
        self.event = asyncio.Event()
        self.interval = interval

    async def wait(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), self.interval)
        self.event.clear()


class RecordFeed:
    """The listening side, one per app (process)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._feeds: dict[uuid.UUID, set[Wakeup]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def watch(self, person_id: uuid.UUID) -> AsyncIterator[Wakeup]:
        wakeup = Wakeup(FALLBACK_SECONDS if self.postgres else POLL_SECONDS)
        self._feeds.setdefault(person_id, set()).add(wakeup)
        try:
            if self.postgres:
                await self._ensure_listening()
            yield wakeup
        finally:
            feeds = self._feeds.get(person_id, set())
            feeds.discard(wakeup)
            if not feeds:
                self._feeds.pop(person_id, None)

    def _wake(self, payload: str) -> None:
        try:
            person_id = uuid.UUID(payload)
        except ValueError:
            logger.warning("ignored a malformed %s payload", CHANNEL)
            return
        for wakeup in self._feeds.get(person_id, ()):
            wakeup.event.set()

    async def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(self._ready))
        assert self._ready is not None
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _listen(self, ready: asyncio.Event) -> None:
        import psycopg

        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    ready.set()
                    async for notify in connection.notifies():
                        self._wake(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # a dropped connection: listen again (the feeds look on their own meanwhile)
                logger.warning("record feed listener lost its connection; reconnecting", exc_info=True)
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
