"""The server's tree-head signer: Ed25519 keys by generation, from settings.

The newest generation signs; every configured generation's public key is published, so heads signed before a
rotation still verify. Development without MYNAPORTAL_LOG_SIGNING_KEYS signs with a demo key derived from a
public constant (anyone could forge it: production refuses to sign without configured keys).
"""

from __future__ import annotations

import hashlib
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.platform.settings import Settings
from api.records.client import LOG_ORIGIN, TreeHead, checkpoint_body

DEMO_SEED = hashlib.sha256(b"mynaportal demo records-log signing key (public: development only)").digest()


class LogSigningUnavailable(RuntimeError):
    """No signing key is configured (production)."""


class LogSigner:
    def __init__(self, seeds: tuple[tuple[int, bytes], ...], origin: str = LOG_ORIGIN) -> None:
        if not seeds:
            raise LogSigningUnavailable("MYNAPORTAL_LOG_SIGNING_KEYS is required in production")
        self._keys = {generation: Ed25519PrivateKey.from_private_bytes(seed) for generation, seed in seeds}
        self.generation = seeds[0][0]
        self.origin = origin

    @classmethod
    def from_settings(cls, settings: Settings) -> LogSigner:
        if settings.log_signing_keys or settings.production:
            return cls(settings.log_signing_keys)
        return cls(((1, DEMO_SEED),))

    def public_keys(self) -> dict[int, bytes]:
        return {generation: key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                for generation, key in self._keys.items()}

    def sign(self, size: int, root: bytes, timestamp_ms: int | None = None) -> TreeHead:
        timestamp_ms = time.time_ns() // 1_000_000 if timestamp_ms is None else timestamp_ms
        signature = self._keys[self.generation].sign(checkpoint_body(size, root, timestamp_ms, self.origin))
        return TreeHead(size, root, timestamp_ms, self.generation, signature)
