"""RFC 8785 (JSON Canonicalization Scheme) for the values an application holds.

Objects' members sorted by their names' UTF-16 code units, no whitespace, strings escaped as ECMAScript's
JSON.stringify does (only ", \\, and control characters; everything else as UTF-8). Numbers: applications hold
integers only (the forms' schemas say "integer"), serialised in plain decimal as RFC 8785 §3.2.2.3 gives them
for integers within ±2^53; a float or a larger integer is refused rather than risk another rendering.
"""

from __future__ import annotations

import json
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
_json_string = json.JSONEncoder(ensure_ascii=False).encode


class NotCanonicalisable(ValueError):
    pass


def _string(text: str) -> str:
    # Python's encoder (ensure_ascii off) escapes exactly as JSON.stringify does (quote, backslash, the five short
    # control escapes, other control characters as lower-case u00xx), in C: a loop here was 5% of a submission.
    return _json_string(text)


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise NotCanonicalisable("integers beyond 2^53 are not canonicalisable here")
        out.append(str(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise NotCanonicalisable("object member names are texts")
        out.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    else:
        raise NotCanonicalisable(f"{type(value).__name__} values are not allowed (integers only, no floats)")


def canonical_json(value: Any) -> bytes:
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")
