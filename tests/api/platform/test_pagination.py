from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from api.platform import pagination
from api.platform.errors import ErrorCode
from api.platform.pagination import InvalidPageRequest, PageRequest, decode_cursor, encode_cursor, use_cursor_secret


@pytest.fixture(autouse=True)
def _process_key() -> Iterator[None]:
    key = pagination._key
    yield
    pagination._key = key


def test_a_cursor_made_here_reads_back() -> None:
    cursor = encode_cursor("2026-12-05T00:00:00+00:00", "0c5f0a6e-8d7e-4f43-9b1e-0d3f1d3c2b1a")
    assert decode_cursor(cursor) == ("2026-12-05T00:00:00+00:00", "0c5f0a6e-8d7e-4f43-9b1e-0d3f1d3c2b1a")
    assert PageRequest.parse(5, cursor).after == decode_cursor(cursor)


def _unsigned(*key: str) -> str:
    """A cursor as this server made them before they were signed: base64 of the JSON key."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    _unsigned("x"),  # the right shape, not made here
    _unsigned("9" * 30),  # would overflow an integer column
    "!!", "", "\ud800", "\x00", "x" * 5000, "WyJ4Il0", "A" * 64,
])
def test_a_cursor_this_server_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidPageRequest) as refused:
        PageRequest.parse(5, cursor)
    assert (refused.value.code, refused.value.message) == (ErrorCode.BAD_USER_INPUT, "the cursor is not valid")


def test_a_tampered_cursor_is_refused() -> None:
    raw = bytearray(base64.urlsafe_b64decode(encode_cursor("a-slug") + "=="))
    raw[-3] ^= 1  # one bit of the key
    with pytest.raises(InvalidPageRequest):
        decode_cursor(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="))


def test_workers_with_the_same_secret_accept_each_others_cursors() -> None:
    use_cursor_secret(b"k" * 32)
    cursor = encode_cursor("a-slug")
    use_cursor_secret(b"k" * 32)  # another worker, started from the same settings
    assert decode_cursor(cursor) == ("a-slug",)
    use_cursor_secret(b"other" * 8)
    with pytest.raises(InvalidPageRequest):
        decode_cursor(cursor)
