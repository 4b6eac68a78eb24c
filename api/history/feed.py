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

from api.platform.listen import Listener

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
        self._listener = Listener(engine, CHANNEL, self._heard)

    @contextlib.asynccontextmanager
    async def watch(self, person_id: uuid.UUID) -> AsyncIterator[Wakeup]:
        wakeup = Wakeup(FALLBACK_SECONDS if self.postgres else POLL_SECONDS)
        self._feeds.setdefault(person_id, set()).add(wakeup)
        try:
            if self.postgres:
                await self._listener.ensure_listening()
            yield wakeup
        finally:
            feeds = self._feeds.get(person_id, set())
            feeds.discard(wakeup)
            if not feeds:
                self._feeds.pop(person_id, None)

    def _heard(self, payload: str) -> None:
        try:
            person_id = uuid.UUID(payload)
        except ValueError:
            logger.warning("ignored a malformed %s payload", CHANNEL)
            return
        for wakeup in self._feeds.get(person_id, ()):
            wakeup.event.set()

    async def close(self) -> None:
        await self._listener.close()
