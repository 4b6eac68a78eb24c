"""RFC 8785 canonical JSON: member order by UTF-16 code units, escapes, integers only."""

from __future__ import annotations

import pytest

from api.applications.canonical import NotCanonicalisable, canonical_json


def test_members_are_sorted_by_utf16_code_units_and_strings_escaped_as_ecmascript_does() -> None:
    # RFC 8785 §3.2.3's example: U+1F600 (a surrogate pair, D83D) sorts before U+FB33.
    value = {"\ufb33": 1, "\U0001f600": 2, "\r": 3, "1": 4, "\u00e9": 5, "a": [True, None, False, "\u20ac\x01\"\\"]}
    assert canonical_json(value) == (
        '{"\\r":3,"1":4,"a":[true,null,false,"\u20ac\\u0001\\"\\\\"],"\u00e9":5,"\U0001f600":2,"\ufb33":1}'
    ).encode()
    assert canonical_json({"b": {"d": 1, "c": -2}, "a": []}) == b'{"a":[],"b":{"c":-2,"d":1}}'


def test_floats_and_unsafe_integers_are_refused() -> None:
    for value in (1.5, 2**53, {"x": object()}, {1: 2}):
        with pytest.raises(NotCanonicalisable):
            canonical_json(value)
    assert canonical_json(2**53 - 1) == b"9007199254740991"
