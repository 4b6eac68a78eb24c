"""A person's browser sessions on the web portal (api.web), kept on the server.

The browser holds only an opaque random session id; the row holds its SHA-256 (a stolen database copy gives no
usable cookie), the form token, and the person's session token by id (api.identity.models.SessionToken), with the
refresh token that renews it, by id too. Neither token's value is kept anywhere: both were made for this row and
never leave the server. Every request reads the session token again, so signing out, a card's revocation
(``sessions.end_certificate_sessions``), a shared terminal's next login and the token's end end the web session
at once. A session unused for ``IDLE`` ends, and its tokens with it.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import ForeignKey, LargeBinary, String, Uuid, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from api.identity import sessions
from api.identity.login_models import RefreshToken
from api.identity.models import SessionToken
from api.platform.auth import Principal, hash_token
from api.platform.db import Base, UTCDateTime, read_only_factory, utcnow

IDLE = dt.timedelta(minutes=30)
# last_seen_at is written at most this often: a page view is not a write each time.
TOUCH_EVERY = dt.timedelta(minutes=1)
# A shared terminal's session token is extended at most this often (api.identity.authentication does the same).
IDLE_EXTENSION_STEP = dt.timedelta(seconds=30)
MAX_ID = 100  # characters of a cookie's session id: more is not ours


class PersonWebSession(Base):
    __tablename__ = "person_web_sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    token_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("session_tokens.id", ondelete="CASCADE"),
                                                index=True)
    # None on a shared terminal (its token has no refresh token: it is extended on use).
    refresh_token_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("refresh_tokens.id", ondelete="SET NULL"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # purge finds idle ones by it


@dataclass(frozen=True)
class WebSignIn:
    session_id: str  # the cookie's value (only the browser and this request see it)
    csrf: str
    principal: Principal


@dataclass(frozen=True)
class Lifetimes:
    """The settings' access and refresh token lifetimes: a renewal issues tokens as a refresh does."""

    access: dt.timedelta
    refresh: dt.timedelta


def _principal(token: SessionToken) -> Principal:
    return Principal(person_id=token.person_id, scopes=frozenset(token.scopes.split()), token_id=token.id)


async def _ids_of(session: AsyncSession, pair: sessions.TokenPair) -> tuple[SessionToken, uuid.UUID | None]:
    token = await session.scalar(select(SessionToken).where(SessionToken.token_hash == hash_token(pair.access_token)))
    if token is None:
        raise LookupError("the session token of this pair is not stored")
    refresh_id = None if pair.refresh_token is None else await session.scalar(
        select(RefreshToken.id).where(RefreshToken.token_hash == hash_token(pair.refresh_token)))
    return token, refresh_id


async def sign_in(session_factory: async_sessionmaker[AsyncSession], pair: sessions.TokenPair,
                  now: dt.datetime | None = None) -> WebSignIn:
    """A new web session for the pair a login just issued (the caller then forgets the pair)."""
    now = now or utcnow()
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    async with session_factory() as session, session.begin():
        token, refresh_id = await _ids_of(session, pair)
        session.add(PersonWebSession(id_hash=hash_token(session_id), token_id=token.id, refresh_token_id=refresh_id,
                                     csrf=csrf, created_at=now, last_seen_at=now))
        return WebSignIn(session_id, csrf, _principal(token))


async def resume(session_factory: async_sessionmaker[AsyncSession], session_id: str, lifetimes: Lifetimes,
                 now: dt.datetime | None = None) -> WebSignIn | None:
    """The live session of this id with its person, or None: unknown, signed out, idle, its token revoked, or
    expired beyond renewal (then the row goes, and its tokens end)."""
    if not session_id or len(session_id) > MAX_ID:
        return None
    now = now or utcnow()
    key = hash_token(session_id)
    reading = read_only_factory(session_factory)  # a page view reads; SQLite's write lock only to write
    failed: uuid.UUID | None = None  # the token a renewal could not replace
    for _ in range(2):  # a second look when a concurrent request renewed the token first
        async with reading() as session:
            row = await session.get(PersonWebSession, key)
            if row is None:
                return None
            token = await session.get(SessionToken, row.token_id)
        state = _state(row, token, now)
        if state == "live":
            assert token is not None
            await _touch(session_factory, row, token, now)
            return WebSignIn(session_id, row.csrf, _principal(token))
        if state == "renew" and row.token_id != failed:
            assert row.refresh_token_id is not None
            renewed = await _renew(session_factory, key, row.token_id, row.refresh_token_id, lifetimes, now)
            if renewed is not None:
                return WebSignIn(session_id, row.csrf, renewed)
            failed = row.token_id
            continue  # spent by a concurrent request, which moved the row on, or ended: look again
        await _end(session_factory, key, now)
        return None
    return None


def _state(row: PersonWebSession, token: SessionToken | None, now: dt.datetime) -> str:
    if token is None or token.revoked_at is not None or now - row.last_seen_at >= IDLE:
        return "ended"
    if token.expires_at > now:
        return "live"
    return "renew" if row.refresh_token_id is not None else "ended"


async def _touch(session_factory: async_sessionmaker[AsyncSession], row: PersonWebSession, token: SessionToken,
                 now: dt.datetime) -> None:
    seen = now - row.last_seen_at >= TOUCH_EVERY
    idle = token.idle_timeout_seconds
    # A shared terminal's session: used now, it ends idle_timeout from now (never revived once ended).
    extend = idle is not None and token.expires_at - now <= dt.timedelta(seconds=idle) - IDLE_EXTENSION_STEP
    if not (seen or extend):
        return
    async with session_factory() as session, session.begin():
        if seen:
            await session.execute(update(PersonWebSession).where(PersonWebSession.id_hash == row.id_hash)
                                  .values(last_seen_at=now))
        if extend:
            await session.execute(update(SessionToken).where(
                SessionToken.id == token.id, SessionToken.revoked_at.is_(None), SessionToken.expires_at > now)
                .values(expires_at=now + dt.timedelta(seconds=idle or 0)))


async def _renew(session_factory: async_sessionmaker[AsyncSession], key: bytes, token_id: uuid.UUID,
                 refresh_id: uuid.UUID, lifetimes: Lifetimes, now: dt.datetime) -> Principal | None:
    """The access token expired: spend the row's refresh token and move the row to the new pair, as a refresh
    does (its certificate re-checked and locked first). None when it was spent already or cannot be."""
    async with session_factory() as session, session.begin():
        certificate = await session.scalar(select(RefreshToken.certificate_id).where(RefreshToken.id == refresh_id))
        usable = await sessions.certificate_usable(session, certificate)
        spent = await session.scalar(
            update(RefreshToken)
            .where(RefreshToken.id == refresh_id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None),
                   RefreshToken.expires_at > now)
            .values(used_at=now).returning(RefreshToken))
        if spent is None:
            return None  # only this row ever held it: a concurrent renewal spent it, or it ended
        if not usable:
            await sessions.revoke_family(session, spent.family_id, now)
            await session.execute(delete(PersonWebSession).where(PersonWebSession.id_hash == key))
            return None
        pair = await sessions.start_session(
            session, spent.person_id, scopes=frozenset(spent.scopes.split()), client=spent.client,
            access_ttl=lifetimes.access, refresh_ttl=lifetimes.refresh, now=now, family_id=spent.family_id,
            certificate_id=spent.certificate_id)
        token, new_refresh = await _ids_of(session, pair)
        await session.execute(update(PersonWebSession).where(PersonWebSession.id_hash == key,
                                                             PersonWebSession.token_id == token_id)
                              .values(token_id=token.id, refresh_token_id=new_refresh, last_seen_at=now))
        return _principal(token)


async def _end(session_factory: async_sessionmaker[AsyncSession], key: bytes, now: dt.datetime) -> None:
    async with session_factory() as session, session.begin():
        token_id = await session.scalar(delete(PersonWebSession).where(PersonWebSession.id_hash == key)
                                        .returning(PersonWebSession.token_id))
        if token_id is not None:
            await sessions.end_session(session, token_id, now)


async def sign_out(session_factory: async_sessionmaker[AsyncSession], session_id: str,
                   now: dt.datetime | None = None) -> None:
    """End the web session and its session token (with its refresh family): the cookie is worth nothing after."""
    if session_id and len(session_id) <= MAX_ID:
        await _end(session_factory, hash_token(session_id), now or utcnow())


def ended(now: dt.datetime) -> ColumnElement[bool]:
    """What the purge deletes: sessions idle past ``IDLE`` or whose token was revoked (those of long-expired tokens
    go with their tokens, by the foreign key)."""
    return or_(PersonWebSession.last_seen_at <= now - IDLE, PersonWebSession.token_id.in_(
        select(SessionToken.id).where(SessionToken.revoked_at.is_not(None))))
