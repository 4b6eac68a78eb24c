from __future__ import annotations

import datetime as dt

import pytest

from nfc_bridge import card_info
from nfc_bridge.card_info import Basic4Info
from nfc_bridge.errors import MalformedResponseError


def test_individual_number_check_digit() -> None:
    assert card_info.is_valid_individual_number("621498320257")
    assert not card_info.is_valid_individual_number("621498320258")
    assert not card_info.is_valid_individual_number("62149832025")
    assert not card_info.is_valid_individual_number("６２１４９８３２０２５７")
    assert card_info.individual_number_check_digit("12345678901") == 8


def test_mask() -> None:
    assert card_info.mask_individual_number("621498320257") == "********0257"


def test_individual_number_file_layout() -> None:
    data = card_info.encode_individual_number("621498320257")
    assert data == bytes.fromhex("FF100C") + b"621498320257" + bytes.fromhex("FFFF")
    assert card_info.parse_individual_number(data) == "621498320257"
    with pytest.raises(MalformedResponseError):
        card_info.parse_individual_number(bytes.fromhex("FF1002") + b"12")


def test_basic4_layout_offsets_point_at_fields() -> None:
    info = Basic4Info("山田　太郎", "東京都千代田区千代田１－１", dt.date(1980, 2, 17), "1")
    data = card_info.encode_basic4(info)
    assert data[:2] == b"\xff\x20"
    header = 3 if data[2] < 0x80 else 2 + (data[2] & 0x7F) + 1
    assert data[header:header + 3] == bytes.fromhex("DF2108")
    offsets = [int.from_bytes(data[header + 3 + 2 * i: header + 5 + 2 * i], "big") for i in range(4)]
    assert [data[o:o + 2].hex().upper() for o in offsets] == ["DF22", "DF23", "DF24", "DF25"]
    assert data[offsets[2]:offsets[2] + 11] == bytes.fromhex("DF2408") + b"19800217"
    assert card_info.parse_basic4(data + b"\xff" * 10) == info
    assert card_info.parse_basic4(data).sex_label == "male"


def test_collation_number_b() -> None:
    # jpki.md §2: born 1980-02-17 = 昭和55, expiry 2035, code 2285
    assert card_info.collation_number_b(dt.date(1980, 2, 17), 2035, "2285") == "55021720352285"
    assert card_info.era_birth_date(dt.date(2019, 5, 1)) == "010501"
    assert card_info.era_birth_date(dt.date(1989, 1, 8)) == "010108"
