"""A signed-in session: a short access token plus a rotating refresh token of the same family.

Reusing a spent refresh token means it was stolen or replayed: the whole family (every refresh token
and access token it produced) is revoked. Every session names the certificate it came from: revoking the
certificate ends its sessions in the same transaction (``end_certificate_sessions``), and a session is started
or refreshed only while its certificate row is unrevoked (``certificate_usable``, locking that row).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.login_models import DeviceAuthorization, DeviceGrantStatus, RefreshToken
from api.identity.models import SessionToken
from api.identity.pki_models import Card, IssuedCertificate, PhoneCredential
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
    certificate_id: uuid.UUID | None,
    family_id: uuid.UUID | None = None,
    shared_terminal: SharedTerminal | None = None,
) -> TokenPair:
    """Issue the pair. The caller first checks ``certificate_usable`` in the same transaction."""
    family_id = family_id or uuid.uuid4()
    if shared_terminal is not None:
        return await _start_on_shared_terminal(session, person_id, scopes, client[:100], shared_terminal, now,
                                               certificate_id)
    access = await issue_token(session, person_id, ttl=access_ttl, scopes=scopes, client=client[:100], now=now,
                               family_id=family_id, certificate_id=certificate_id)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    session.add(RefreshToken(token_hash=hash_token(refresh), family_id=family_id, person_id=person_id,
                             client=client[:100], scopes=" ".join(sorted(scopes)), created_at=now,
                             expires_at=now + refresh_ttl, certificate_id=certificate_id))
    await session.flush()
    return TokenPair(access, refresh, int(access_ttl.total_seconds()), scopes, person_id)


async def _start_on_shared_terminal(session: AsyncSession, person_id: uuid.UUID, scopes: frozenset[str], client: str,
                                    terminal: SharedTerminal, now: dt.datetime,
                                    certificate_id: uuid.UUID | None) -> TokenPair:
    await end_terminal_sessions(session, client, terminal.terminal_id, now)
    access = await issue_token(session, person_id, ttl=terminal.idle_timeout, scopes=scopes, client=client, now=now,
                               certificate_id=certificate_id)
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


async def refresh_token_certificate(session: AsyncSession, token: str) -> uuid.UUID | None:
    """The certificate of the refresh token's family (None for an unknown token or none recorded)."""
    return await session.scalar(select(RefreshToken.certificate_id).where(
        RefreshToken.token_hash == hash_token(token)))


async def certificate_usable(session: AsyncSession, certificate_id: uuid.UUID | None) -> bool:
    """Is the session's certificate (and its card, its phone credential) unrevoked? True for a session made
    without one. Locks the certificate's row on PostgreSQL (SQLite has one writer): a revocation that commits
    first is seen here, and one that comes later waits for this transaction and then ends the session it
    starts. Call it before touching the session's rows, in the order a revocation takes them (certificate,
    then tokens and grants), so the two cannot deadlock."""
    if certificate_id is None:
        return True
    row = (await session.execute(
        select(IssuedCertificate.revoked_at, Card.revoked_at, PhoneCredential.revoked_at)
        .join(Card, Card.id == IssuedCertificate.card_id)
        .outerjoin(PhoneCredential, PhoneCredential.id == IssuedCertificate.phone_credential_id)
        .where(IssuedCertificate.id == certificate_id)
        .with_for_update(of=IssuedCertificate))).first()
    return row is not None and all(at is None for at in row)


async def end_certificate_sessions(session: AsyncSession, certificate_ids: Collection[uuid.UUID],
                                   now: dt.datetime) -> int:
    """The certificates were revoked in ``session``: end every session that came from them, in the same
    transaction (access and refresh tokens, and TV sign-ins approved but not yet collected). Returns the number
    of access tokens ended."""
    if not certificate_ids:
        return 0
    note_revocation(session)
    ids = list(certificate_ids)
    await session.execute(update(RefreshToken).where(RefreshToken.certificate_id.in_(ids),
                                                     RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
    await session.execute(update(DeviceAuthorization)
                          .where(DeviceAuthorization.certificate_id.in_(ids),
                                 DeviceAuthorization.status == DeviceGrantStatus.APPROVED)
                          .values(status=DeviceGrantStatus.DENIED))
    ended = await session.scalars(update(SessionToken).where(SessionToken.certificate_id.in_(ids),
                                                             SessionToken.revoked_at.is_(None))
                                  .values(revoked_at=now).returning(SessionToken.id))
    return len(list(ended))
