"""Keyset pagination: opaque cursors over a sort key, pages capped at 100."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from api.platform.errors import ErrorCode, PortalError

T = TypeVar("T")
MAX_PAGE_SIZE = 100


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


def encode_cursor(*key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidPageRequest("the cursor is not valid") from error
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidPageRequest("the cursor is not valid")
    return tuple(values)


def page_of(rows: list[T], request: PageRequest, key: callable) -> Page[T]:  # type: ignore[valid-type]
    """Build a page from up to first+1 rows fetched after the cursor (the extra row tells has_next)."""
    visible = rows[: request.first]
    return Page(
        items=[(encode_cursor(*key(row)), row) for row in visible],
        has_next_page=len(rows) > request.first,
        has_previous_page=request.after is not None,
    )
