"""Units of work: one transaction, retried when SQLite reports a concurrent writer.

SQLite has one writer; a transaction that read before another committed cannot upgrade to a write
(SQLITE_BUSY, "database is locked", and the busy timeout does not apply). Correctness never depends on
the retry (unique keys and conditional UPDATEs decide); it only spares the client a spurious error.
PostgreSQL never takes this path.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")
ATTEMPTS = 40


def _busy(error: OperationalError) -> bool:
    return "database is locked" in str(error.orig)


async def in_transaction(
    session_factory: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    for attempt in range(ATTEMPTS):
        try:
            async with session_factory() as session, session.begin():
                return await work(session)
        except OperationalError as error:
            if not _busy(error) or attempt == ATTEMPTS - 1:
                raise
            await asyncio.sleep(random.uniform(0, min(0.25, 0.005 * 2 ** attempt)))  # noqa: S311 (jitter)
    raise AssertionError("unreachable")
