"""VAPID (RFC 8292): key generations kept in the database, generated on first use, rotatable; the
``Authorization: vapid t=…, k=…`` header cached per audience (push-service origin) and key.

Signing an ES256 JWT costs more than encrypting a message, so one header serves every message to the
same push service until shortly before it expires (../shared/reference/style.md §5).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.errors import ErrorCode, PortalError
from push.models import PushSubscription, VapidKey
from push.secrets import SecretBox

TOKEN_LIFETIME = 12 * 3600  # RFC 8292: at most 24 h
REFRESH_MARGIN = 3600  # sign a new one an hour before expiry


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_box(data_key: bytes, previous: Sequence[bytes] = ()) -> SecretBox:
    return SecretBox.derive(data_key, "vapid-private-key", previous)


def _new_key_row(box: SecretBox, generation: int) -> dict[str, object]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return {"generation": generation, "public_key": b64url(public), "private_key_ciphertext": box.seal(pem)}


def _insert_ignore(session: AsyncSession):  # type: ignore[no-untyped-def]
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(VapidKey)


async def current_key(session: AsyncSession, box: SecretBox) -> VapidKey:
    """The newest generation; the first call on an empty database creates generation 1."""
    found = await session.scalar(select(VapidKey).order_by(VapidKey.generation.desc()).limit(1))
    if found is not None:
        return found
    # Two processes starting together: the primary key lets one insert win, the other reads it.
    await session.execute(_insert_ignore(session).values(**_new_key_row(box, 1))
                          .on_conflict_do_nothing(index_elements=["generation"]))
    found = await session.scalar(select(VapidKey).order_by(VapidKey.generation.desc()).limit(1))
    assert found is not None
    return found


async def rotate_key(session: AsyncSession, box: SecretBox) -> VapidKey:
    """Add a new generation: new subscriptions use it; existing ones keep theirs until they re-subscribe."""
    latest = await session.scalar(select(func.max(VapidKey.generation)))
    row = _new_key_row(box, (latest or 0) + 1)
    session.add(VapidKey(**row))
    await session.flush()
    return await session.get_one(VapidKey, row["generation"])


async def retire_key(session: AsyncSession, generation: int) -> None:
    """Delete an old generation's key pair; refused for the newest (it signs new subscriptions) and while any
    subscription still uses it (its push service checks that key: the device must subscribe again first)."""
    newest = await session.scalar(select(func.max(VapidKey.generation)))
    if await session.get(VapidKey, generation) is None:
        raise PortalError(ErrorCode.KEY_GENERATION_UNKNOWN, f"no VAPID key of generation {generation}")
    if generation == newest:
        raise PortalError(ErrorCode.KEY_GENERATION_IN_USE, f"VAPID generation {generation} is the newest")
    using = await session.scalar(select(func.count()).select_from(PushSubscription)
                                 .where(PushSubscription.vapid_generation == generation)) or 0
    if using:
        raise PortalError(ErrorCode.KEY_GENERATION_IN_USE,
                          f"{using} push subscriptions still use VAPID generation {generation}",
                          extensions={"subscriptions": using})
    await session.execute(delete(VapidKey).where(VapidKey.generation == generation))


async def key_for_public(session: AsyncSession, public_key: str) -> VapidKey | None:
    return await session.scalar(select(VapidKey).where(VapidKey.public_key == public_key))


def audience_of(endpoint: str) -> str:
    """The push service's origin, port included (RFC 8292 §2: the ``aud`` claim is the origin)."""
    parts = urlsplit(endpoint)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


@dataclass
class VapidSigner:
    """Loaded private keys by generation, and one cached header per (generation, audience)."""

    subject: str
    keys: dict[int, tuple[ec.EllipticCurvePrivateKey, str]] = field(default_factory=dict)
    _cache: dict[tuple[int, str], tuple[str, float]] = field(default_factory=dict)
    _audiences: dict[str, str] = field(default_factory=dict)  # endpoint up to its path -> audience

    def audience(self, endpoint: str) -> str:
        """``audience_of`` without parsing every endpoint: the text before the path names the push service."""
        start = endpoint.find("://") + 3
        slash = endpoint.find("/", start)
        prefix = endpoint if slash < 0 else endpoint[:slash]
        found = self._audiences.get(prefix)
        if found is None:
            if len(self._audiences) >= 4096:  # subscriptions name few push services; stay bounded if not
                self._audiences.clear()
            found = self._audiences[prefix] = audience_of(prefix)
        return found

    def load(self, row: VapidKey, box: SecretBox) -> None:
        if row.generation not in self.keys:
            private = serialization.load_pem_private_key(box.open(row.private_key_ciphertext), password=None)
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            self.keys[row.generation] = (private, row.public_key)

    def header(self, generation: int, endpoint: str, *, now: float | None = None) -> str:
        audience = self.audience(endpoint)
        clock = time.time() if now is None else now
        cached = self._cache.get((generation, audience))
        if cached is not None and cached[1] - REFRESH_MARGIN > clock:
            return cached[0]
        private, public = self.keys[generation]
        expires = int(clock) + TOKEN_LIFETIME
        token = jwt.encode({"aud": audience, "exp": expires, "sub": self.subject}, private, algorithm="ES256")
        value = f"vapid t={token}, k={public}"
        self._cache[(generation, audience)] = (value, expires)
        return value
