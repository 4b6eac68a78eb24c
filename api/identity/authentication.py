"""Authenticating a request's bearer token: one indexed read of its session token, or none while this worker
keeps what it found (api.identity.session_cache).

Only the token is read: the person it acts for is loaded by whatever needs them (the ``viewer`` query, through
the request's DataLoader, by primary key).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.identity.models import SessionToken
from api.identity.session_cache import SessionCache
from api.identity.tokens import AuthenticatedPerson
from api.platform.auth import TOKEN_PREFIX, Principal, TokenRejected, hash_token
from api.platform.db import READ_ONLY_OPTION, PointRead, chunks_among, utcnow


async def authenticate_person(engine: AsyncEngine, token: str, *, cache: SessionCache | None = None,
                              now: datetime | None = None) -> AuthenticatedPerson:
    """The token's principal, through this worker's ``SessionCache`` when given; raises ``TokenRejected``.

    Every person's request starts here: the lookup is an ``api.platform.db.PointRead`` on a pooled connection.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise TokenRejected("invalid")
    token_hash = hash_token(token)
    found = cache.get(token_hash) if cache is not None else None
    if found is None:
        started = cache.fill_started() if cache is not None else None
        row = await _LOOKUP.first(engine, {"token_hash": token_hash})
        if row is None:
            raise TokenRejected("invalid")  # never kept: made-up tokens cannot fill memory
        token_id, person_id, scopes, expires_at, revoked_at, idle_timeout = row
        found = AuthenticatedPerson(Principal(person_id=person_id, scopes=frozenset(scopes.split()),
                                              token_id=token_id), expires_at, revoked_at is not None, idle_timeout)
        if cache is not None and started is not None:
            cache.put(token_hash, found, started)
    if found.revoked:
        raise TokenRejected("invalid")
    now = now or utcnow()
    if found.expires_at <= now:
        raise TokenRejected("expired")
    if found.idle_timeout is not None:
        await _extend_idle(engine, found, now)
    return found


# A shared terminal's session is extended at most this often: not one write per request.
IDLE_EXTENSION_STEP = timedelta(seconds=30)


async def _extend_idle(engine: AsyncEngine, found: AuthenticatedPerson, now: datetime) -> None:
    """Used now: the shared terminal's session ends ``idle_timeout`` from now (never revived once ended)."""
    idle = timedelta(seconds=found.idle_timeout or 0)
    if found.expires_at - now > idle - IDLE_EXTENSION_STEP:
        return
    async with engine.begin() as connection:
        await connection.execute(update(SessionToken).where(
            SessionToken.id == found.principal.token_id, SessionToken.revoked_at.is_(None),
            SessionToken.expires_at > now).values(expires_at=now + idle))


_LOOKUP = PointRead(
    select(SessionToken.id, SessionToken.person_id, SessionToken.scopes, SessionToken.expires_at,
           SessionToken.revoked_at, SessionToken.idle_timeout_seconds)
    .where(SessionToken.token_hash == bindparam("token_hash"))
)



async def ended_sessions(engine: AsyncEngine, token_ids: Collection[uuid.UUID], *,
                         now: datetime | None = None) -> dict[uuid.UUID, str]:
    """Of these session tokens, those that no longer authenticate, each with why: "revoked" (signed out, the
    card reported lost, an operator) or "expired". Open live feeds are checked together (api.platform.feed_guard):
    one read per chunk of tokens by primary key (api.platform.db.chunks_among), returning only the ended ones (a
    token is deleted only long after it expired, api.identity.purge, so its feed has ended by then)."""
    now = now or utcnow()
    wanted = list(token_ids)
    ended: dict[uuid.UUID, str] = {}
    # A pure read: on SQLite it must not take the write lock (api.platform.db).
    async with engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
        for among in chunks_among(engine, SessionToken.id, wanted):
            rows = await connection.execute(
                select(SessionToken.id, SessionToken.revoked_at.is_not(None))
                .where(among, or_(SessionToken.revoked_at.is_not(None), SessionToken.expires_at <= now)))
            ended.update({token_id: "revoked" if revoked else "expired" for token_id, revoked in rows})
    return ended
