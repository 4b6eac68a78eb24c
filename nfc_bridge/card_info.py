"""The card-info input support AP (券面事項入力補助AP): individual number and basic 4 info.

File layouts per jpki.md §1.3: EF 0001 `FF 10 0C` + 12 ASCII digits + `FF FF`; EF 0002 `FF 20 len`
with a DF21 offset table, DF22 name, DF23 address, DF24 birth date YYYYMMDD, DF25 sex digit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from nfc_bridge import tlv
from nfc_bridge.errors import MalformedResponseError

TEXT_AP_AID = bytes.fromhex("D3921000310001010408")
EF_INDIVIDUAL_NUMBER = 0x0001
EF_BASIC4 = 0x0002
KEY_CARD_INFO_PIN = 0x0011
KEY_COLLATION_A = 0x0014  # 照合番号A = the individual number
KEY_COLLATION_B = 0x0015  # 照合番号B = era birth date + expiry year + security code

SEX_LABELS = {"1": "male", "2": "female", "9": "not applicable", "0": "unknown"}
_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def individual_number_check_digit(first11: str) -> int:
    r = sum(int(d) * w for d, w in zip(first11, _WEIGHTS, strict=True)) % 11
    return 0 if r <= 1 else 11 - r


def is_valid_individual_number(number: str) -> bool:
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return False
    return individual_number_check_digit(number[:11]) == int(number[11])


def mask_individual_number(number: str) -> str:
    """Show only the last four digits (the number must never appear in full by default)."""
    return "*" * max(0, len(number) - 4) + number[-4:]


@dataclass(frozen=True)
class Basic4Info:
    name: str
    address: str
    birth_date: dt.date
    sex: str  # ISO 5218 digit: 1 male, 2 female, 9 n/a, 0 unknown

    @property
    def sex_label(self) -> str:
        return SEX_LABELS.get(self.sex, "unknown")


def encode_individual_number(number: str) -> bytes:
    return b"\xff\x10\x0c" + number.encode("ascii") + b"\xff\xff"


def parse_individual_number(data: bytes) -> str:
    try:
        obj = tlv.parse_one(data)
    except tlv.TlvError as exc:
        raise MalformedResponseError(f"individual number file: {exc}") from exc
    if obj.tag != 0xFF10 or len(obj.value) != 12 or not obj.value.isdigit():
        raise MalformedResponseError("individual number file has an unexpected layout")
    return obj.value.decode("ascii")


def encode_basic4(info: Basic4Info) -> bytes:
    fields = [
        tlv.encode(0xDF22, info.name.encode("utf-8")),
        tlv.encode(0xDF23, info.address.encode("utf-8")),
        tlv.encode(0xDF24, info.birth_date.strftime("%Y%m%d").encode("ascii")),
        tlv.encode(0xDF25, info.sex.encode("ascii")),
    ]
    # offsets are from the start of the file; the DF21 object itself is 11 bytes
    inner_len = 11 + sum(len(f) for f in fields)
    outer_header = len(tlv.encode(0xFF20, b"\x00" * inner_len)) - inner_len
    offsets, pos = [], outer_header + 11
    for f in fields:
        offsets.append(pos)
        pos += len(f)
    table = tlv.encode(0xDF21, b"".join(o.to_bytes(2, "big") for o in offsets))
    return tlv.encode(0xFF20, table + b"".join(fields))


def parse_basic4(data: bytes) -> Basic4Info:
    try:
        outer = tlv.parse_one(data)
        if outer.tag != 0xFF20:
            raise tlv.TlvError(f"unexpected tag {outer.tag:X}")
        values = {t.tag: t.value for t in tlv.parse_all(outer.value)}
        birth = values[0xDF24].decode("ascii")
        return Basic4Info(
            name=values[0xDF22].decode("utf-8"),
            address=values[0xDF23].decode("utf-8"),
            birth_date=dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8])),
            sex=values[0xDF25].decode("ascii"),
        )
    except (tlv.TlvError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponseError(f"basic 4 info file: {exc}") from exc


_ERAS = ((dt.date(2019, 5, 1), 2018), (dt.date(1989, 1, 8), 1988), (dt.date(1926, 12, 25), 1925),
         (dt.date(1912, 7, 30), 1911))


def era_birth_date(birth: dt.date) -> str:
    """Japanese-era YYMMDD as used by 照合番号B (e.g. 1980-02-17 = 昭和55 → 550217)."""
    for start, offset in _ERAS:
        if birth >= start:
            return f"{birth.year - offset:02d}{birth:%m%d}"
    raise ValueError("birth date before the Taisho era")


def collation_number_b(birth: dt.date, expiry_year: int, security_code: str) -> str:
    return f"{era_birth_date(birth)}{expiry_year:04d}{security_code}"
