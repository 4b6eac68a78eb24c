"""The 12-digit individual number (個人番号): check digit, encryption at rest, keyed lookup hash, masking.

The clear number exists only in memory, for the moment it is validated, encrypted or hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Weights for the first 11 digits counted from the left (総務省令の算式).
_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# Binds each ciphertext to its use, so a blob cannot be replayed into another column.
_AAD = b"mynaportal:person.individual_number:v1"
_NONCE_BYTES = 12


class InvalidIndividualNumber(ValueError):
    """Raised with a message that never contains the number itself."""


def check_digit(base11: str) -> int:
    if len(base11) != 11 or not base11.isascii() or not base11.isdigit():
        raise InvalidIndividualNumber("the base of an individual number is 11 digits")
    remainder = sum(int(d) * w for d, w in zip(base11, _WEIGHTS, strict=True)) % 11
    return 0 if remainder <= 1 else 11 - remainder


def validate(number: str) -> str:
    """Return the number if it is 12 ASCII digits with a correct check digit."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        raise InvalidIndividualNumber("an individual number is exactly 12 digits")
    if check_digit(number[:11]) != int(number[11]):
        raise InvalidIndividualNumber("the individual number's check digit is wrong")
    return number


def mask(number: str) -> str:
    return "*" * 8 + number[-4:]


@dataclass(frozen=True)
class IndividualNumberCipher:
    """AES-256-GCM at rest; HMAC-SHA256 under a separate key to find a person without decrypting."""

    data_key: bytes
    lookup_key: bytes
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One key schedule for the process (every viewer query decrypts to mask the number).
        object.__setattr__(self, "_aead", AESGCM(self.data_key))

    def encrypt(self, number: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, validate(number).encode(), _AAD)

    def decrypt(self, blob: bytes) -> str:
        return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _AAD).decode()

    def lookup_hash(self, number: str) -> bytes:
        return hmac.new(self.lookup_key, validate(number).encode(), hashlib.sha256).digest()
