"""Bearer-token primitives every layer shares: the token shape, its hash, who a request acts as."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

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
