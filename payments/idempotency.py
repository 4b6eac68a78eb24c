"""Idempotency keys: the same key and body give the original result; another body is a conflict.

The table's primary key (scope, key) decides races: the first request's INSERT wins, and the claim
commits in the same transaction as the resource it created, so a crash leaves neither. Keys are kept
24 hours (GOV.UK Pay); an expired key may be used again.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.errors import PortalError
from payments.models import IdempotencyKey
from payments.statements import CLAIM_KEY

RETENTION = timedelta(hours=24)
_KEY = re.compile(r"^[A-Za-z0-9-]{1,255}$")  # GOV.UK Pay's rule; UUIDs fit


def insert_ignoring_conflicts(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise PortalError("IDEMPOTENCY_KEY_INVALID",
                             "Idempotency-Key must be 1-255 characters of A-Z, a-z, 0-9 and '-'.")
    return key


def request_hash(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession, scope: str, key: str, body: Mapping[str, Any], *, now: datetime,
    resource_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """None: this request is the first with the key (do the work, then ``remember``).

    Otherwise the id of the resource the original request made. Call first in the transaction.
    ``resource_id``: the id the work will give its resource, known in advance; it is stored with the claim (no
    ``remember``), and the claim is tried first (a new key is the usual case: one statement instead of three).
    """
    check_key(key)
    digest = request_hash(body)
    # Otherwise a replay needs no write lock: look before inserting (the INSERT below still decides races).
    existing = None if resource_id is not None else await _load(session, scope, key)
    if existing is None:
        inserted = await session.scalar(CLAIM_KEY(session), {  # built once (payments.statements)
            "scope": scope, "key": key, "request_hash": digest, "resource_id": resource_id, "created_at": now})
        if inserted is not None:
            return None
        existing = await _load(session, scope, key)
        assert existing is not None  # a conflicting row is committed (PostgreSQL waited for it)
    if existing.created_at < now - RETENTION:
        renewed = await session.scalar(
            update(IdempotencyKey)
            .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key,
                   IdempotencyKey.created_at == existing.created_at)
            .values(request_hash=digest, resource_id=resource_id, created_at=now)
            .returning(IdempotencyKey.key)
        )
        if renewed is not None:
            return None
        existing = await _load(session, scope, key)
        assert existing is not None
    if existing.request_hash != digest:
        raise PortalError("IDEMPOTENCY_KEY_REUSED",
                             "This Idempotency-Key was already used with a different request.")
    if existing.resource_id is None:
        raise PortalError("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key's request did not complete.")
    return existing.resource_id


async def remember(session: AsyncSession, scope: str, key: str, resource_id: uuid.UUID) -> None:
    await session.execute(update(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
                          .values(resource_id=resource_id))


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - RETENTION))
    return result.rowcount or 0


async def _load(session: AsyncSession, scope: str, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )
