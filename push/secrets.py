"""Secrets at rest (VAPID private keys, webhook signing secrets): AES-256-GCM under a key derived from the
data key, one derived key per purpose so a blob cannot be moved into another column.

Rotating the root (MYNAPORTAL_DATA_KEY): the previous roots (MYNAPORTAL_PREVIOUS_DATA_KEYS) still open blobs
until `mynaportal secrets-reseal` has sealed every one under the new root; then they are removed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


@dataclass(frozen=True)
class SecretBox:
    key: bytes
    purpose: bytes
    older: tuple[bytes, ...] = ()  # derived from previous roots: they open, never seal

    @classmethod
    def derive(cls, data_key: bytes, purpose: str, previous: Sequence[bytes] = ()) -> SecretBox:
        info = b"mynaportal:" + purpose.encode()

        def derived(root: bytes) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(root)

        return cls(derived(data_key), info, tuple(derived(root) for root in previous))

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, self.purpose)

    def open(self, blob: bytes) -> bytes:
        for key in (self.key, *self.older):
            try:
                return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], self.purpose)
            except InvalidTag:
                continue
        raise InvalidTag()

    def sealed_by_current(self, blob: bytes) -> bool:
        try:
            AESGCM(self.key).decrypt(blob[:_NONCE], blob[_NONCE:], self.purpose)
        except InvalidTag:
            return False
        return True
