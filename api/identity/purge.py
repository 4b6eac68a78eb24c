"""Deleting login state nobody can use any more: expired challenges, finished or expired TV sign-ins,
long-expired access tokens, the web portal's ended browser sessions (idle, or their token revoked). (Login rate
limits count in api.platform.rate_limits: nothing of them is stored.)

Each table is emptied in batches of short transactions (``DELETE ... WHERE id IN (SELECT ... LIMIT n)``), so
a large backlog never holds one long lock. Refresh tokens are kept: a spent one must still be recognised when
replayed, to end its family (api.identity.sessions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from api.identity.login_models import DeviceAuthorization, DeviceGrantStatus, LoginChallenge
from api.identity.models import SessionToken
from api.identity.web_sessions import PersonWebSession, ended

# An expired access token still answers "expired" (not "invalid") to its client for a day, then goes.
EXPIRED_TOKEN_GRACE = dt.timedelta(days=1)


@dataclass(frozen=True)
class Purged:
    challenges: int
    device_grants: int
    access_tokens: int
    web_sessions: int


async def purge(session_factory: async_sessionmaker[AsyncSession], *, now: dt.datetime, batch: int = 1000,
                on_batch: Callable[[str, int], None] | None = None) -> Purged:
    """Delete what expired before ``now``. ``on_batch(table, deleted)`` is told of each committed batch (the CLI's
    progress display)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    told = on_batch or (lambda _table, _deleted: None)
    challenges = await _batches(session_factory, batch, LoginChallenge, LoginChallenge.expires_at <= now, told)
    grants = await _batches(session_factory, batch, DeviceAuthorization, or_(
        DeviceAuthorization.expires_at <= now, DeviceAuthorization.status == DeviceGrantStatus.CONSUMED), told)
    # Before the tokens: a web session of a revoked token goes here, counted (one of an expired token would go
    # with its token, by the foreign key, uncounted).
    web = await _batches(session_factory, batch, PersonWebSession, ended(now), told)
    tokens = await _batches(session_factory, batch, SessionToken, SessionToken.expires_at <= now - EXPIRED_TOKEN_GRACE,
                            told)
    return Purged(challenges, grants, tokens, web)


async def _batches(session_factory: async_sessionmaker[AsyncSession], batch: int,
                   model: type[LoginChallenge | DeviceAuthorization | SessionToken | PersonWebSession],
                   condition: ColumnElement[bool], told: Callable[[str, int], None]) -> int:
    key = model.id_hash if model is PersonWebSession else model.id  # type: ignore[union-attr]
    total = 0
    while True:
        async with session_factory() as session, session.begin():
            ids = select(key).where(condition).limit(batch).scalar_subquery()
            result = await session.execute(delete(model).where(key.in_(ids)),
                                           execution_options={"synchronize_session": False})
        deleted = result.rowcount  # type: ignore[attr-defined]
        total += deleted
        told(model.__tablename__, deleted)
        if deleted < batch:
            return total
