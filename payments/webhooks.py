"""Standard Webhooks 1.0 signatures: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

Used three ways: the sandbox gateway signs its notifications, we verify them, and we sign the
callbacks we send to agencies. The signed content is ``id.timestamp.body``; receivers refuse a
timestamp more than five minutes away (replay protection).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's public prefix)


class SignatureInvalid(Exception):
    """Missing headers, a stale timestamp, or no matching signature."""


def secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return secret.encode()


def sign(secret: str | bytes, message_id: str, timestamp: int, body: bytes) -> str:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str | bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body), "content-type": "application/json"}


def verify(secret: str | bytes, received: Mapping[str, str], body: bytes, *, now: datetime) -> str:
    """The message id if a signature matches; raises SignatureInvalid otherwise."""
    message_id = received.get("webhook-id")
    raw_timestamp = received.get("webhook-timestamp")
    signatures = received.get("webhook-signature")
    if not message_id or not raw_timestamp or not signatures:
        raise SignatureInvalid("missing webhook headers")
    try:
        timestamp = int(raw_timestamp)
    except ValueError as error:
        raise SignatureInvalid("bad timestamp") from error
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise SignatureInvalid("timestamp outside the tolerance")
    expected = sign(secret, message_id, timestamp, body)
    # Several space-separated signatures allow secret rotation.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures.split()):
        raise SignatureInvalid("no matching signature")
    return message_id
