"""The 12-digit individual number (個人番号): check digit, encryption at rest, keyed lookup hash, masking.

The clear number exists only in memory, for the moment it is validated, encrypted or hashed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from api.platform.keys import KeySource, StaticKeySource, key_source_for
from api.platform.settings import Settings

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
class SealedNumber:
    """What a row stores for a number: the ciphertext and hash, each with the key generation that made it."""

    ciphertext: bytes
    key_generation: int
    lookup_hash: bytes
    lookup_generation: int


class IndividualNumberCipher:
    """AES-256-GCM at rest; HMAC-SHA256 under a separate key to find a person without decrypting.

    Keys come in generations (api.platform.keys): the newest writes, every active one reads, so a rotation moves
    rows while the portal serves. ``IndividualNumberCipher(data_key, lookup_key)`` is generation 1 of each.
    ``data_key`` is the root of the other secrets at rest (push.secrets.SecretBox), rotated on its own
    (MYNAPORTAL_PREVIOUS_DATA_KEYS, `mynaportal secrets-reseal`).
    """

    def __init__(self, data_key: bytes = b"", lookup_key: bytes = b"", *, keys: KeySource | None = None) -> None:
        self.data_key = data_key
        self.keys: KeySource = keys if keys is not None else StaticKeySource({1: data_key}, {1: lookup_key})

    @property
    def key_generation(self) -> int:
        return self.keys.generations("data")[0]

    @property
    def lookup_generation(self) -> int:
        return self.keys.generations("lookup")[0]

    def seal(self, number: str) -> SealedNumber:
        """Ciphertext and hash under the newest generations."""
        generation, lookup_generation = self.key_generation, self.lookup_generation
        return SealedNumber(self.encrypt(number, generation), generation,
                            self.lookup_hash(number, lookup_generation), lookup_generation)

    def encrypt(self, number: str, generation: int) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self.keys.encrypt(generation, nonce, validate(number).encode(), _AAD)

    def decrypt(self, blob: bytes, generation: int) -> str:
        return self.keys.decrypt(generation, blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _AAD).decode()

    def lookup_hash(self, number: str, generation: int) -> bytes:
        return self.keys.mac(generation, validate(number).encode())

    def lookup_hashes(self, number: str) -> list[tuple[int, bytes]]:
        """The number's hash under every active lookup generation: a person is found whether or not the
        re-encryption job has moved their row yet."""
        validate(number)
        return [(generation, self.lookup_hash(number, generation)) for generation in self.keys.generations("lookup")]


def cipher_for(settings: Settings) -> IndividualNumberCipher:
    """The cipher the settings describe; refuses at start-up a key source that holds no key of a kind."""
    keys = key_source_for(settings)
    for kind in ("data", "lookup"):
        if not keys.generations(kind):  # type: ignore[arg-type]
            raise ValueError(f"the key source holds no {kind} key: run `mynaportal keys add --{kind}`")
    return IndividualNumberCipher(settings.data_key, keys=keys)
