"""The staff inbox's browser sessions, kept on the server (the web portal's /web/staff).

The browser holds only an opaque random session id; the row holds its SHA-256 (a stolen database copy does not
give a usable cookie), the form token, and the credential the staff member signed in with, by the hash the
credential's own table keeps (a staff token's or an agency key's), never the credential itself. Every request
resolves the actor again from that hash: a disabled account, a revoked key or a replaced token ends the session
at once, as signing out (the row deleted) does. A session unused for ``IDLE`` ends too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import LargeBinary, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from api.applications.staff import InboxActor, actor_for_credential, inbox_actor

# The web sessions' one rule, a citizen's or a staff member's: idle time, how often a view is written, id length.
from api.identity.web_sessions import IDLE, MAX_ID, TOUCH_EVERY
from api.platform.auth import hash_token
from api.platform.db import Base, UTCDateTime, utcnow
from api.platform.errors import PortalError


class StaffWebSession(Base):
    __tablename__ = "staff_web_sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    credential_hash: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # purge finds idle ones by it


@dataclass(frozen=True)
class StaffSession:
    session_id: str  # the cookie's value (only the browser and this request see it)
    csrf: str
    actor: InboxActor


async def sign_in(session_factory: async_sessionmaker[AsyncSession], token: str,
                  now: dt.datetime | None = None) -> StaffSession:
    """A new session for this staff token (or the municipality's agency key); UNAUTHENTICATED otherwise."""
    now = now or utcnow()
    actor = await inbox_actor(session_factory, token)
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    async with session_factory() as session, session.begin():
        credential = hash_token(token)
        await session.execute(delete(StaffWebSession).where(  # this credential's sessions left idle
            StaffWebSession.credential_hash == credential, StaffWebSession.last_seen_at <= now - IDLE))
        session.add(StaffWebSession(id_hash=hash_token(session_id), credential_hash=credential, csrf=csrf,
                                    created_at=now, last_seen_at=now))
    return StaffSession(session_id, csrf, actor)


async def resume(session_factory: async_sessionmaker[AsyncSession], session_id: str,
                 now: dt.datetime | None = None) -> StaffSession | None:
    """The live session of this id with its actor, or None (unknown, idle, signed out, or its credential no
    longer valid: then the row goes)."""
    if not session_id or len(session_id) > MAX_ID:
        return None
    now = now or utcnow()
    key = hash_token(session_id)
    async with session_factory() as session:
        row = await session.get(StaffWebSession, key)
        if row is None:
            return None
        actor = None
        if now - row.last_seen_at < IDLE:
            try:
                actor = await actor_for_credential(session, row.credential_hash)
            except PortalError:
                actor = None
        if actor is None:
            await session.execute(delete(StaffWebSession).where(StaffWebSession.id_hash == key))
            await session.commit()
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            await session.execute(update(StaffWebSession).where(StaffWebSession.id_hash == key)
                                  .values(last_seen_at=now))
            await session.commit()
    return StaffSession(session_id, row.csrf, actor)


async def sign_out(session_factory: async_sessionmaker[AsyncSession], session_id: str) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(delete(StaffWebSession).where(StaffWebSession.id_hash == hash_token(session_id)))


async def purge(session_factory: async_sessionmaker[AsyncSession], *, now: dt.datetime, batch: int = 1000) -> int:
    """Delete the sessions left idle past ``IDLE`` (one whose credential was revoked goes at its next request, or
    here once idle), in batches of short transactions. Returns how many went."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    total = 0
    while True:
        async with session_factory() as session, session.begin():
            ids = select(StaffWebSession.id_hash).where(StaffWebSession.last_seen_at <= now - IDLE).limit(batch)
            result = await session.execute(delete(StaffWebSession).where(StaffWebSession.id_hash.in_(
                ids.scalar_subquery())), execution_options={"synchronize_session": False})
        deleted: int = result.rowcount  # type: ignore[attr-defined]
        total += deleted
        if deleted < batch:
            return total
