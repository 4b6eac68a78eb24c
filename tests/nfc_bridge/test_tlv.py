from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nfc_bridge import tlv


def test_certificate_header() -> None:
    assert tlv.read_header(bytes.fromhex("3082036A3082")) == (0x30, 0x036A, 4)


def test_multibyte_tags_and_filler() -> None:
    data = bytes.fromhex("FF100C") + b"621498320257" + b"\xff\xff"
    obj = tlv.parse_one(data)
    assert (obj.tag, obj.value, obj.constructed) == (0xFF10, b"621498320257", True)
    assert tlv.parse_all(bytes.fromhex("DF2401310000")) == [tlv.Tlv(0xDF24, b"1", False)]
    assert tlv.parse_all(bytes.fromhex("8101AA") + b"\xff" * 5) == [tlv.Tlv(0x81, b"\xaa", False)]


@pytest.mark.parametrize("raw", ["", "30", "3082", "308201", "1F", "5F8181818101", "3080", "3085FFFFFFFFFF",
                                 "3003AA"])
def test_malformed(raw: str) -> None:
    with pytest.raises(tlv.TlvError):
        tlv.parse_one(bytes.fromhex(raw))


@given(tag=st.sampled_from([0x04, 0x30, 0x5F4E, 0x7F21, 0xDF22, 0xFF20]), value=st.binary(max_size=70000))
def test_encode_parse_roundtrip(tag: int, value: bytes) -> None:
    encoded = tlv.encode(tag, value)
    assert tlv.parse_one(encoded).value == value
    assert tlv.parse_one(encoded).tag == tag
