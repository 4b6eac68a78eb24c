"""Keyset pagination: opaque cursors over a sort key, pages capped at 100.

A cursor is signed (HMAC-SHA256, truncated to 128 bits) with a key of the process: a cursor this server did not
make is refused before any domain reads its key, so no tampered value reaches a query. Every app derives the
key from its settings (``use_cursor_secret``), so all workers accept each other's cursors; until then (a
domain test, a tool) the key is random, good for the cursors of this process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Generic, TypeVar

from api.platform.errors import ErrorCode, PortalError

T = TypeVar("T")
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 1000  # far above any cursor made here (a few keys of under 100 characters)
_TAG = 16
_key = secrets.token_bytes(32)


def use_cursor_secret(secret: bytes) -> None:
    """Sign and verify cursors with a key derived from ``secret`` (the same in every worker)."""
    global _key  # one key per process, set once at start-up
    _key = hmac.new(secret, b"mynaportal pagination cursor v1", hashlib.sha256).digest()


class InvalidPageRequest(PortalError, ValueError):
    """A page size out of range or a cursor this server did not make."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.BAD_USER_INPUT, message)


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: tuple[str, ...] | None

    @classmethod
    def parse(cls, first: int | None, after: str | None, *, default: int = 20) -> PageRequest:
        size = default if first is None else first
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidPageRequest(f"first must be between 1 and {MAX_PAGE_SIZE}")
        return cls(first=size, after=decode_cursor(after) if after is not None else None)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (cursor, item)
    has_next_page: bool
    has_previous_page: bool


def _tag(payload: bytes) -> bytes:
    return hmac.new(_key, payload, hashlib.sha256).digest()[:_TAG]


def encode_cursor(*key: str) -> str:
    payload = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_tag(payload) + payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, ...]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidPageRequest("the cursor is not valid")
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
    except (binascii.Error, ValueError) as error:  # ValueError: not ASCII (a lone surrogate, any non-ASCII)
        raise InvalidPageRequest("the cursor is not valid") from error
    tag, payload = raw[:_TAG], raw[_TAG:]
    if len(tag) != _TAG or not hmac.compare_digest(tag, _tag(payload)):
        raise InvalidPageRequest("the cursor is not valid")
    values = json.loads(payload)  # made by encode_cursor: a list of strings
    return tuple(values)


def page_of(rows: list[T], request: PageRequest, key: callable) -> Page[T]:  # type: ignore[valid-type]
    """Build a page from up to first+1 rows fetched after the cursor (the extra row tells has_next)."""
    visible = rows[: request.first]
    return Page(
        items=[(encode_cursor(*key(row)), row) for row in visible],
        has_next_page=len(rows) > request.first,
        has_previous_page=request.after is not None,
    )
