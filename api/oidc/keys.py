"""The provider's ID-token keys: ES256 (P-256) generations from settings, newest signing, all in the JWKS.

Rotation: add a generation in front of MYNAPORTAL_OIDC_SIGNING_KEYS; the old one stays published until every ID
token it signed has expired, then is removed. Development without the setting uses a public demo key, which
production refuses (api.platform.settings).
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from api.platform.settings import Settings

DEMO_SCALAR = hashlib.sha256(b"mynaportal demo OpenID Provider ID-token key (public: development only)").digest()
ALGORITHM = "ES256"


class SigningUnavailable(RuntimeError):
    """No ID-token key is configured (production without MYNAPORTAL_OIDC_SIGNING_KEYS)."""


def _key(generation: int, scalar: bytes) -> ECKey:
    private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    key = ECKey.import_key(private, {"use": "sig", "alg": ALGORITHM})
    key.ensure_kid()
    return ECKey.import_key(private, {"use": "sig", "alg": ALGORITHM, "kid": f"g{generation}-{key.kid[:16]}"})


class ProviderKeys:
    def __init__(self, generations: tuple[tuple[int, bytes], ...]) -> None:
        if not generations:
            raise SigningUnavailable("MYNAPORTAL_OIDC_SIGNING_KEYS is required in production")
        self.keys = [_key(generation, scalar) for generation, scalar in generations]
        self.signing = self.keys[0]
        self.public_set = KeySet([ECKey.import_key(key.as_dict(private=False)) for key in self.keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderKeys:
        if settings.oidc_signing_keys or settings.production:
            return cls(settings.oidc_signing_keys)
        return cls(((1, DEMO_SCALAR),))

    def jwks(self) -> dict[str, Any]:
        return self.public_set.as_dict(private=False)

    def sign(self, claims: dict[str, Any], *, typ: str = "JWT") -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.signing.kid, "typ": typ}, claims, self.signing,
                          algorithms=[ALGORITHM])
