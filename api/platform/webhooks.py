"""Standard Webhooks 1.0, the one implementation: signing what we send (notices to delivery services,
payment callbacks to agencies, the sandbox gateway's notifications), ``verify_webhook`` for receivers,
and the destination guard (production refuses private, loopback and link-local addresses).

Signature: ``webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``; several
space-separated signatures allow secret rotation. Secrets look like ``whsec_<base64 of 24-64 bytes>``;
any other string is used as its UTF-8 bytes (a shared secret configured by an operator).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"  # noqa: S105 (a public prefix, not a secret)
TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The request is not a fresh, authentic, first delivery of this message."""


class DestinationRefused(ValueError):
    """The webhook URL is not https or resolves to an address the portal must not call."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not a valid whsec_ secret") from error


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def sign_headers(secret: str | Sequence[str], message_id: str, body: bytes, *,
                 timestamp: int | None = None) -> dict[str, str]:
    """Signed with each secret given (during a rotation: the new one and the old one, space-separated), so the
    receiver accepts the message whichever of the two it holds."""
    stamp = int(time.time()) if timestamp is None else timestamp
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    if not secrets_:
        raise ValueError("at least one secret is required")
    return {"webhook-id": message_id, "webhook-timestamp": str(stamp),
            "webhook-signature": " ".join(signature(each, message_id, stamp, body) for each in secrets_)}


@dataclass
class ReplayGuard:
    """Ids seen within the tolerance window, in one process's memory: for a single-process receiver (a test's,
    an agency's script). The portal's receivers keep them in the database (api.platform.replay)."""

    window: int = TOLERANCE_SECONDS * 2
    _seen: dict[str, float] = field(default_factory=dict)

    def first_time(self, message_id: str, now: float) -> bool:
        for old in [key for key, until in self._seen.items() if until < now]:
            del self._seen[old]
        if message_id in self._seen:
            return False
        self._seen[message_id] = now + self.window
        return True


def verify_webhook(
    secret: str | Sequence[str], headers: Mapping[str, str], body: bytes, *, replay_guard: ReplayGuard | None,
    now: float | None = None, tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Return the message id if the request is authentic, fresh and (with a guard) not seen before.

    ``headers`` must be case-insensitive (Starlette's and httpx's are) or lower-case. Pass
    ``replay_guard=None`` only where a repeated delivery is harmless by design (the payment state
    machine applies a notification once however often it comes).
    """
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    offered = headers.get("webhook-signature")
    if not message_id or not stamp or not offered:
        raise WebhookVerificationError("missing webhook headers")
    clock = time.time() if now is None else now
    try:
        timestamp = int(stamp)
    except ValueError as error:
        raise WebhookVerificationError("bad timestamp") from error
    if abs(clock - timestamp) > tolerance:
        raise WebhookVerificationError("timestamp outside the tolerance window")
    # Several secrets: a receiver in a rotation accepts either until it retires the old one.
    expected = [signature(each, message_id, timestamp, body).encode()
                for each in ([secret] if isinstance(secret, str) else secret)]
    if not any(hmac.compare_digest(want, candidate.encode()) for candidate in offered.split(" ")
               if candidate.startswith("v1,") for want in expected):
        raise WebhookVerificationError("no matching signature")
    # Only an authentic request may occupy an id in the replay guard.
    if replay_guard is not None and not replay_guard.first_time(message_id, clock):
        raise WebhookVerificationError("message id already received")
    return message_id


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse non-https URLs, and in production hosts that resolve to non-public addresses (SSRF guard).

    Checked when the service is registered and again before every send (DNS may change in between).
    """
    parts = urlsplit(url)
    if len(url) > 500 or not parts.hostname or parts.username or parts.password:
        raise DestinationRefused("the webhook URL must be an absolute URL without credentials")
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise DestinationRefused("the webhook URL must use https")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
    except OSError as error:
        raise DestinationRefused("the webhook host does not resolve") from error
    if not infos or any(_forbidden(str(info[4][0])) for info in infos):
        raise DestinationRefused("the webhook host resolves to a private, loopback or reserved address")
