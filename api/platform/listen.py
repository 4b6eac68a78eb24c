"""One PostgreSQL LISTEN connection per process and channel, started on first use and kept alive.

Each payload goes to ``on_payload``. A dropped connection is reconnected after a second; what was notified
meanwhile is lost, so its users also look on their own (the inbox, the record) now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("api.platform.listen")


class Listener:
    def __init__(self, engine: AsyncEngine, channel: str, on_payload: Callable[[str], None]) -> None:
        self.engine = engine
        self.channel = channel
        self.on_payload = on_payload
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None

    async def ensure_listening(self) -> None:
        """Return once the LISTEN is in place (starting it if it is not running)."""
        if self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._listen(self._ready))
        assert self._ready is not None
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _listen(self, ready: asyncio.Event) -> None:
        import psycopg

        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {self.channel}")
                    ready.set()
                    async for notify in connection.notifies():
                        self.on_payload(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # a dropped connection: listen again
                logger.warning("%s listener lost its connection; reconnecting", self.channel, exc_info=True)
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
