"""Secrets at rest (VAPID private keys, webhook signing secrets): AES-256-GCM under a key derived from the
data key, one derived key per purpose so a blob cannot be moved into another column."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


@dataclass(frozen=True)
class SecretBox:
    key: bytes
    purpose: bytes

    @classmethod
    def derive(cls, data_key: bytes, purpose: str) -> SecretBox:
        info = b"mynaportal:" + purpose.encode()
        return cls(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key), info)

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, self.purpose)

    def open(self, blob: bytes) -> bytes:
        return AESGCM(self.key).decrypt(blob[:_NONCE], blob[_NONCE:], self.purpose)
