"""Tells open apps and TVs that a notice was added, behind one small interface.

PostgreSQL: ``pg_notify`` inside the publishing transaction (PostgreSQL delivers it only on commit) and
one LISTEN connection per process, so every uvicorn worker hears every notice. SQLite (one process):
an in-process hub, fed after commit. The message is the notice id only: no personal data on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.platform.listen import Listener

CHANNEL = "notice_added"
QUEUE_SIZE = 1000
logger = logging.getLogger("api.notices.broker")
# database URL -> the queues of this process's listeners (SQLite only).
_HUBS: dict[str, set[asyncio.Queue[uuid.UUID]]] = {}


def _url(bind: Any) -> str:
    return bind.url.render_as_string(hide_password=True)


def _offer(queues: set[asyncio.Queue[uuid.UUID]], notice_id: uuid.UUID) -> None:
    for queue in list(queues):
        with contextlib.suppress(asyncio.QueueFull):  # a stalled listener misses it and refetches
            queue.put_nowait(notice_id)


async def announce(session: AsyncSession, notice_id: uuid.UUID) -> None:
    """Announce the notice when (and only if) the session's transaction commits."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, :payload)"),
                              {"channel": CHANNEL, "payload": str(notice_id)})
        return
    info = session.sync_session.info
    pending: list[uuid.UUID] | None = info.get("notices_announce")
    if pending is None:
        pending = info["notices_announce"] = []
        url = _url(bind)

        def committed(_: Any) -> None:
            for announced in info.pop("notices_announce", []):
                _offer(_HUBS.get(url, set()), announced)

        def rolled_back(*_: Any) -> None:
            info.pop("notices_announce", None)

        event.listen(session.sync_session, "after_commit", committed, once=True)
        event.listen(session.sync_session, "after_soft_rollback", rolled_back, once=True)
    pending.append(notice_id)


class NoticeBroker:
    """The listening side, one per app (process)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.url = _url(engine)
        self.postgres = engine.dialect.name == "postgresql"
        self._queues: set[asyncio.Queue[uuid.UUID]] = set()
        self._listener = Listener(engine, CHANNEL, self._heard)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[uuid.UUID]]:
        queue: asyncio.Queue[uuid.UUID] = asyncio.Queue(QUEUE_SIZE)
        if self.postgres:
            self._queues.add(queue)
            await self._listener.ensure_listening()
        else:
            _HUBS.setdefault(self.url, set()).add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            _HUBS.get(self.url, set()).discard(queue)

    def _heard(self, payload: str) -> None:
        try:
            _offer(self._queues, uuid.UUID(payload))
        except ValueError:
            logger.warning("ignored a malformed %s payload", CHANNEL)

    async def close(self) -> None:
        await self._listener.close()
