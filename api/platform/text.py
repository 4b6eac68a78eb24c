"""Text from clients, checked before it reaches a database or a log: a str of valid Unicode (no lone
surrogates, which no codec can encode), without NUL (PostgreSQL refuses it in text: psycopg raises DataError)
and within a length."""

from __future__ import annotations

from typing import Any

from api.platform.errors import ErrorCode, PortalError


def check_text(value: Any, field: str, max_length: int, *, required: bool = True) -> str:
    """``value`` if it is acceptable text, else a BAD_USER_INPUT PortalError naming ``field``."""
    if not isinstance(value, str):
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} must be a string.", extensions={"field": field})
    if required and not value.strip():
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} must not be empty.", extensions={"field": field})
    if len(value) > max_length:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} must be at most {max_length} characters.",
                          extensions={"field": field})
    if "\x00" in value:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} must not contain NUL.", extensions={"field": field})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} must be valid Unicode (no lone surrogates).",
                          extensions={"field": field}) from error
    return value
