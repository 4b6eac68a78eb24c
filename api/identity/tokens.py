"""Opaque bearer tokens: random, shown once, stored only as a SHA-256 hash, with expiry and scopes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import utcnow
from api.identity.models import SessionToken
from api.identity.scopes import PERSON_SCOPES

__all__ = ["PERSON_SCOPES", "Principal", "TokenRejected", "hash_token", "issue_token", "resolve_token", "revoke_token"]

TOKEN_PREFIX = "mpt_"  # noqa: S105 (a public prefix, not a secret)


class TokenRejected(Exception):
    """Unknown, revoked or expired; ``reason`` is 'invalid' or 'expired'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who a request acts as."""

    person_id: uuid.UUID
    scopes: frozenset[str]
    token_id: uuid.UUID


def hash_token(token: str) -> bytes:
    # 256 random bits need no salt or slow hash: a plain digest cannot be brute-forced.
    return hashlib.sha256(token.encode()).digest()


async def issue_token(
    session: AsyncSession,
    person_id: uuid.UUID,
    *,
    ttl: timedelta,
    scopes: frozenset[str] = PERSON_SCOPES,
    client: str = "cli",
    now: datetime | None = None,
) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    issued = now or utcnow()
    session.add(SessionToken(token_hash=hash_token(token), person_id=person_id, scopes=" ".join(sorted(scopes)),
                             client=client, created_at=issued, expires_at=issued + ttl))
    await session.flush()
    return token


async def resolve_token(session: AsyncSession, token: str, *, now: datetime | None = None) -> Principal:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise TokenRejected("invalid")
    row = await session.scalar(select(SessionToken).where(SessionToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise TokenRejected("invalid")
    if row.expires_at <= (now or utcnow()):
        raise TokenRejected("expired")
    return Principal(person_id=row.person_id, scopes=frozenset(row.scopes.split()), token_id=row.id)


async def revoke_token(session: AsyncSession, token: str) -> bool:
    result = await session.execute(
        update(SessionToken)
        .where(SessionToken.token_hash == hash_token(token), SessionToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(SessionToken.id)
    )
    return result.first() is not None
