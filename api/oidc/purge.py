"""`mynaportal oidc purge`: the OpenID Provider's short-lived rows, once they can no longer matter, deleted in
batches while traffic goes on.

- authorization codes expired (60 s) and exchanged for no token still held (a token names its code: a replayed
  code takes back what it gave, RFC 9700), login requests and pushed requests (RFC 9126) expired;
- the JWT ids seen (client assertions' ``jti``, DPoP proofs' replay keys) past their time (a replay would be
  refused for its age by then);
- access tokens expired or revoked.

Each kind only once it ended more than ``grace`` ago: a request that read a row just before it ended writes within
seconds, so its write never meets a deleted row. Each batch is its own short transaction (SQLite's one writer is
held for one batch at a time); on PostgreSQL the batch skips rows other transactions hold (FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from api.oidc.models import OidcAuthorizationCode, OidcLoginRequest, OidcPushedRequest, OidcSeenJwt, OidcToken

DEFAULT_GRACE = timedelta(hours=1)
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class PurgeReport:
    tokens: int
    codes: int
    login_requests: int
    pushed_requests: int
    seen_jwts: int

    def __str__(self) -> str:
        return (f"oidc purge: deleted {self.tokens} tokens, {self.codes} authorization codes, {self.login_requests} "
                f"login requests, {self.pushed_requests} pushed requests, {self.seen_jwts} seen JWT ids")


def _kinds(cutoff: datetime) -> list[tuple[Any, ColumnElement[bool]]]:
    """(key columns, condition) per table, tokens before codes (a code goes once its tokens have)."""
    token_ended = or_(OidcToken.expires_at < cutoff, OidcToken.revoked_at < cutoff)
    code_unused = ~exists().where(OidcToken.code_id == OidcAuthorizationCode.id)
    return [
        ((OidcToken.id,), token_ended),
        ((OidcAuthorizationCode.id,), (OidcAuthorizationCode.expires_at < cutoff) & code_unused),
        ((OidcLoginRequest.id,), OidcLoginRequest.expires_at < cutoff),
        ((OidcPushedRequest.id,), OidcPushedRequest.expires_at < cutoff),
        ((OidcSeenJwt.issuer, OidcSeenJwt.jti), OidcSeenJwt.expires_at < cutoff),
    ]


async def _delete_batches(engine: AsyncEngine, keys: tuple[Any, ...], condition: ColumnElement[bool],
                          batch: int) -> int:
    table = keys[0].table
    total = 0
    while True:
        async with engine.begin() as connection:
            chosen = select(*keys).where(condition).limit(batch)
            if engine.dialect.name == "postgresql":
                chosen = chosen.with_for_update(skip_locked=True)
            # The condition again on the row deleted: what changed since it was chosen (a token used) stays.
            target = tuple_(*keys).in_(chosen) if len(keys) > 1 else keys[0].in_(chosen)
            deleted = (await connection.execute(delete(table).where(target, condition))).rowcount
        total += deleted
        if deleted < batch:
            return total


async def purge(engine: AsyncEngine, *, now: datetime, grace: timedelta = DEFAULT_GRACE,
                batch: int = DEFAULT_BATCH) -> PurgeReport:
    if batch < 1:
        raise ValueError("batch must be at least 1")
    counts = [await _delete_batches(engine, keys, condition, batch) for keys, condition in _kinds(now - grace)]
    return PurgeReport(*counts)
