"""The corporate number's check digit (法人番号): the first of its 13 digits.

check = 9 - (sum of the 12-digit base's digits weighted 1, 2, 1, 2 ... from the right) mod 9, always 1-9.
Passing the check does not mean the number exists: the modulus 9 cannot see a 0 <-> 9 substitution.
"""

from __future__ import annotations

import re
import unicodedata

_THIRTEEN_DIGITS = re.compile(r"^[0-9]{13}$")
_TWELVE_DIGITS = re.compile(r"^[0-9]{12}$")


class InvalidCorporateNumber(ValueError):
    """Not 13 ASCII digits, or the check digit does not match."""


def compute_check_digit(base: str) -> int:
    """The check digit of a 12-digit base (the 会社法人等番号 for registered corporations)."""
    if not _TWELVE_DIGITS.match(base):
        raise InvalidCorporateNumber("the base must be 12 digits")
    total = sum(int(digit) * (2 if position % 2 == 0 else 1)
                for position, digit in enumerate(reversed(base), start=1))
    return 9 - total % 9


def is_valid(number: str) -> bool:
    return bool(_THIRTEEN_DIGITS.match(number)) and int(number[0]) == compute_check_digit(number[1:])


def with_check_digit(base: str) -> str:
    return f"{compute_check_digit(base)}{base}"


def validate(number: str) -> str:
    """The number if it is valid, else InvalidCorporateNumber with a reason safe to show."""
    if not _THIRTEEN_DIGITS.match(number):
        raise InvalidCorporateNumber("a corporate number is 13 digits")
    if int(number[0]) != compute_check_digit(number[1:]):
        raise InvalidCorporateNumber("the check digit does not match")
    return number


def clean_input(raw: str) -> str:
    """What people type: full-width digits, hyphens, spaces and an invoice 'T' prefix are accepted."""
    text = unicodedata.normalize("NFKC", raw).strip().replace("-", "").replace(" ", "")
    if text[:1] in ("T", "t") and len(text) == 14:
        text = text[1:]
    return text
