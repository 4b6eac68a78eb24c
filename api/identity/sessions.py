"""A signed-in session: a short access token plus a rotating refresh token of the same family.

Reusing a spent refresh token means it was stolen or replayed: the whole family (every refresh token
and access token it produced) is revoked.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.login_models import RefreshToken
from api.identity.models import SessionToken
from api.identity.tokens import issue_token, note_revocation
from api.platform.auth import hash_token
from api.platform.errors import PortalError

REFRESH_PREFIX = "mpr_"  # a public prefix, not a secret


@dataclass(frozen=True)
class SharedTerminal:
    """A login on a shared terminal (a municipal counter, a public kiosk): the session ends after
    ``idle_timeout`` unused (each use extends it), gets no refresh token, and the terminal's next login ends
    whatever session it still has, so the next resident never continues the previous one's."""

    terminal_id: str
    idle_timeout: dt.timedelta


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str | None  # None on a shared terminal
    expires_in: int
    scopes: frozenset[str]
    person_id: uuid.UUID


async def start_session(
    session: AsyncSession,
    person_id: uuid.UUID,
    *,
    scopes: frozenset[str],
    client: str,
    access_ttl: dt.timedelta,
    refresh_ttl: dt.timedelta,
    now: dt.datetime,
    family_id: uuid.UUID | None = None,
    shared_terminal: SharedTerminal | None = None,
) -> TokenPair:
    family_id = family_id or uuid.uuid4()
    if shared_terminal is not None:
        return await _start_on_shared_terminal(session, person_id, scopes, client[:100], shared_terminal, now)
    access = await issue_token(session, person_id, ttl=access_ttl, scopes=scopes, client=client[:100], now=now)
    await session.execute(update(SessionToken).where(SessionToken.token_hash == hash_token(access))
                          .values(family_id=family_id))
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    session.add(RefreshToken(token_hash=hash_token(refresh), family_id=family_id, person_id=person_id,
                             client=client[:100], scopes=" ".join(sorted(scopes)), created_at=now,
                             expires_at=now + refresh_ttl))
    await session.flush()
    return TokenPair(access, refresh, int(access_ttl.total_seconds()), scopes, person_id)


async def _start_on_shared_terminal(session: AsyncSession, person_id: uuid.UUID, scopes: frozenset[str], client: str,
                                    terminal: SharedTerminal, now: dt.datetime) -> TokenPair:
    await end_terminal_sessions(session, client, terminal.terminal_id, now)
    access = await issue_token(session, person_id, ttl=terminal.idle_timeout, scopes=scopes, client=client, now=now)
    await session.execute(update(SessionToken).where(SessionToken.token_hash == hash_token(access)).values(
        idle_timeout_seconds=int(terminal.idle_timeout.total_seconds()), terminal_id=terminal.terminal_id[:100]))
    return TokenPair(access, None, int(terminal.idle_timeout.total_seconds()), scopes, person_id)


async def end_terminal_sessions(session: AsyncSession, client: str, terminal_id: str, now: dt.datetime) -> None:
    """End every session still open on this terminal (of this client app)."""
    note_revocation(session)
    await session.execute(update(SessionToken).where(
        SessionToken.client == client, SessionToken.terminal_id == terminal_id[:100],
        SessionToken.revoked_at.is_(None), SessionToken.expires_at > now).values(revoked_at=now))


async def end_session(session: AsyncSession, token_id: uuid.UUID, now: dt.datetime) -> None:
    """Sign out: end this session token, and its refresh family if it has one."""
    note_revocation(session)
    family = await session.scalar(update(SessionToken).where(SessionToken.id == token_id)
                                  .values(revoked_at=func.coalesce(SessionToken.revoked_at, now))
                                  .returning(SessionToken.family_id))
    if family is not None:
        await revoke_family(session, family, now)


async def spend_refresh_token(session: AsyncSession, token: str, now: dt.datetime) -> RefreshToken:
    """Mark the token spent (conditional UPDATE: of two concurrent uses only one wins).

    Raises REFRESH_TOKEN_REUSED after revoking the family in ``session``: the caller must commit
    before surfacing the error (``IdentityService.refresh`` does).
    """
    if not token.startswith(REFRESH_PREFIX) or len(token) > 100:
        raise PortalError("REFRESH_TOKEN_INVALID", "The refresh token is not valid.")
    digest = hash_token(token)
    spent = await session.scalar(
        update(RefreshToken)
        .where(RefreshToken.token_hash == digest, RefreshToken.used_at.is_(None),
               RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > now)
        .values(used_at=now)
        .returning(RefreshToken)
    )
    if spent is not None:
        return spent
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest))
    if row is None or row.revoked_at is not None:
        raise PortalError("REFRESH_TOKEN_INVALID", "The refresh token is not valid.")
    if row.used_at is not None:
        await revoke_family(session, row.family_id, now)
        raise PortalError("REFRESH_TOKEN_REUSED",
                              "This refresh token was already used; the session has been ended everywhere.")
    raise PortalError("REFRESH_TOKEN_INVALID", "The refresh token has expired.")


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: dt.datetime) -> None:
    note_revocation(session)
    await session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                                     RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
    await session.execute(update(SessionToken).where(SessionToken.family_id == family_id,
                                                     SessionToken.revoked_at.is_(None)).values(revoked_at=now))
