"""Opaque bearer tokens: random, shown once, stored only as a SHA-256 hash, with expiry and scopes."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from api.identity.models import SessionToken
from api.platform.auth import TOKEN_PREFIX, Principal, hash_token
from api.platform.db import utcnow
from api.platform.revocations import RevocationCounter
from api.platform.scopes import PERSON_SCOPES


@dataclass(frozen=True, slots=True)
class AuthenticatedPerson:
    """What the token lookup found, immutable (it may be kept and shared: api.identity.session_cache)."""

    principal: Principal
    expires_at: datetime
    revoked: bool
    idle_timeout: int | None = None  # seconds; a shared terminal's session, extended on use


async def issue_token(
    session: AsyncSession,
    person_id: uuid.UUID,
    *,
    ttl: timedelta,
    scopes: frozenset[str] = PERSON_SCOPES,
    client: str = "cli",
    now: datetime | None = None,
    family_id: uuid.UUID | None = None,
    certificate_id: uuid.UUID | None = None,
) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    issued = now or utcnow()
    session.add(SessionToken(token_hash=hash_token(token), person_id=person_id, scopes=" ".join(sorted(scopes)),
                             client=client, created_at=issued, expires_at=issued + ttl, family_id=family_id,
                             certificate_id=certificate_id))
    await session.flush()
    return token


async def revoke_token(session: AsyncSession, token: str) -> bool:
    note_revocation(session)
    result = await session.execute(
        update(SessionToken)
        .where(SessionToken.token_hash == hash_token(token), SessionToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(SessionToken.id)
    )
    return result.first() is not None


# Session-token revocations this process has committed (api.platform.revocations: its caches of token lookups,
# api.identity.session_cache, and its open live feeds, api.platform.feed_guard, recheck at once).
SESSION_REVOCATIONS = RevocationCounter()


def note_revocation(session: AsyncSession) -> None:
    """Call from every function that revokes session tokens in ``session``: when it commits, this process's
    caches of token lookups stop using what they read before (api.identity.session_cache)."""
    SESSION_REVOCATIONS.note(session)


def committed_revocations() -> int:
    """How many transactions that revoked session tokens this process has committed."""
    return SESSION_REVOCATIONS.committed
