"""Edge validation of what clients send: text, integers and dates, each refused with a stable code.

Every transport applies these before a domain sees the value: GraphQL to every string of the variables and of
the document (api.schema.inputs), REST handlers where they read a body or a parameter. A value that passed
cannot fail in the database: no NUL (PostgreSQL refuses it in text), no lone surrogate (not encodable as
UTF-8), no integer beyond BIGINT, no date that date arithmetic would overflow.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from api.platform.errors import ErrorCode, PortalError

# Longer than any text the portal stores (a notice body is at most 4,000 characters); domains keep their own,
# tighter limits.
MAX_TEXT_LENGTH = 10_000
# C0 controls other than tab, newline and carriage return, and UTF-16 surrogates (valid pairs arrive from JSON
# already combined into one code point, so any surrogate left is a lone one).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")  # a key named in a path (a field name), else "<key>"
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
# Dates a person, a notice, a payment or a corporation can carry: wide for the portal, far from date
# arithmetic's limits (year 1 and 9999).
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)


def text_problem(value: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Why ``value`` is refused, or None."""
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    if "\ud800" <= found.group() <= "\udfff":
        return "is not valid Unicode (a lone surrogate)"
    return "holds a control character"


def check_text(value: str, field: str, max_length: int = MAX_TEXT_LENGTH) -> str:
    """``value`` if it is text the portal can store; otherwise PortalError TEXT_INVALID naming ``field``."""
    problem = text_problem(value, max_length)
    if problem is not None:
        raise PortalError(ErrorCode.TEXT_INVALID, f"The text of {field} {problem}.", extensions={"field": field})
    return value


def check_integer(value: int, field: str, minimum: int = BIGINT_MIN, maximum: int = BIGINT_MAX) -> int:
    if not minimum <= value <= maximum:
        raise PortalError(ErrorCode.VALUE_OUT_OF_RANGE, f"{field} must be between {minimum} and {maximum}.",
                          extensions={"field": field})
    return value


def check_date(value: dt.date, field: str) -> dt.date:
    """A date (or the date of a datetime) between EARLIEST_DATE and LATEST_DATE."""
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise PortalError(ErrorCode.VALUE_OUT_OF_RANGE,
                          f"{field} must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}.",
                          extensions={"field": field})
    return value


def json_object(raw: bytes, field: str = "body") -> dict[str, Any]:
    """A request body that must be a JSON object, every text and integer of it checked; else BAD_USER_INPUT
    (TEXT_INVALID, VALUE_OUT_OF_RANGE for a value)."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # invalid UTF-8, not JSON, NaN, too deep, a 5,000-digit integer
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"The {field} is not JSON.") from error
    if not isinstance(value, dict):
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"The {field} must be a JSON object.")
    check_json_texts(value, field)
    return value


def check_params(params: Mapping[str, str]) -> None:
    """Every name and value of a query string checked as text."""
    for name, value in params.items():
        check_text(name, "a parameter name", max_length=100)
        check_text(value, name if _NAME.match(name) else "a parameter")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def check_json_texts(value: Any, field: str, *, files: Mapping[str, int] | None = None) -> None:
    """Every string of a decoded JSON value (keys included) checked; integers checked against BIGINT.

    ``files``: paths (``variables.content``) that carry a file as base64, each with its most characters. Such a
    string may be longer than text: base64 alone cannot hold what the text rules keep out (controls, surrogates),
    and the resolver that takes it bounds its decoded size. Anywhere else the text rules apply."""
    for path, item in _walk(value, field):
        if isinstance(item, str):
            if files and MAX_TEXT_LENGTH < len(item) <= files.get(path, 0) and _BASE64.fullmatch(item):
                continue
            check_text(item, path)
        elif isinstance(item, int) and not isinstance(item, bool):
            check_integer(item, path)


def _walk(value: Any, field: str) -> Iterator[tuple[str, Any]]:
    # Iterative: a JSON value may be nested as deeply as the decoder allowed.
    stack = [(field, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, member in item.items():
                yield f"{path}.<key>", key
                stack.append((f"{path}.{key}" if _NAME.match(key) else f"{path}.<key>", member))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", member) for index, member in enumerate(item))
        else:
            yield path, item
