"""Sending one Web Push message (RFC 8030) and reading the push service's answer.

Headers set here because ``webpush`` does not: TTL (explicit, from the notice's expiry), Urgency (high for
disasters), Topic (the notice id, so a push service replaces an undelivered duplicate of the same notice).
"""

from __future__ import annotations

import email.utils
import json
import ssl
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from api.notices.models import Category, DeliveryState, Priority
from push.encryption import encrypt
from push.vapid import VapidSigner

MAX_TTL = timedelta(days=28)


@dataclass(frozen=True)
class PushMessage:
    notice_id: uuid.UUID
    category: Category
    priority: Priority
    expires_at: datetime | None
    endpoint: str
    p256dh: str
    auth: str
    vapid_generation: int


@dataclass(frozen=True)
class SendResult:
    state: DeliveryState  # DELIVERED, PENDING (retry), PERMANENT_FAILURE, TECHNICAL_FAILURE
    status_code: int | None
    retry_after: timedelta | None = None
    error: str | None = None
    subscription_gone: bool = False


def payload_of(message: PushMessage) -> bytes:
    # Tiny and impersonal: the app fetches the notice itself over GraphQL.
    return json.dumps({"v": 1, "notice": str(message.notice_id), "category": message.category.value},
                      separators=(",", ":")).encode()


def urgency_of(message: PushMessage) -> str:
    if message.category is Category.DISASTER or message.priority is Priority.HIGH:
        return "high"
    return "low" if message.priority is Priority.LOW else "normal"


def ttl_of(message: PushMessage, now: datetime) -> int:
    remaining = MAX_TTL if message.expires_at is None else min(message.expires_at - now, MAX_TTL)
    return max(int(remaining.total_seconds()), 0)


def topic_of(notice_id: uuid.UUID) -> str:
    return notice_id.hex  # 32 characters of the base64url alphabet, as RFC 8030 §5.4 allows


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=min(int(value), 86400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when - now, timedelta(0)) if when.tzinfo else None


def client_for(ca_file: str | None, *, timeout: float = 10.0, connections: int = 64) -> httpx.AsyncClient:
    """One client per process; an extra CA only for a development push service on loopback."""
    verify: ssl.SSLContext | bool = True
    if ca_file:
        verify = ssl.create_default_context()
        verify.load_verify_locations(ca_file)
    return httpx.AsyncClient(verify=verify, timeout=timeout, http2=False, follow_redirects=False,
                             limits=httpx.Limits(max_connections=connections,
                                                 max_keepalive_connections=connections))


async def send_push(client: httpx.AsyncClient, signer: VapidSigner, message: PushMessage, *,
                    now: datetime) -> SendResult:
    body = encrypt(payload_of(message), endpoint=message.endpoint, p256dh=message.p256dh, auth=message.auth)
    headers = {
        "authorization": signer.header(message.vapid_generation, message.endpoint),
        "content-encoding": "aes128gcm",
        "content-type": "application/octet-stream",
        "ttl": str(ttl_of(message, now)),
        "urgency": urgency_of(message),
        "topic": topic_of(message.notice_id),
    }
    try:
        response = await client.post(message.endpoint, content=body, headers=headers)
    except httpx.TransportError as error:
        return SendResult(DeliveryState.PENDING, None, error=f"transport: {type(error).__name__}")
    status = response.status_code
    if status in (200, 201, 202):
        return SendResult(DeliveryState.DELIVERED, status)
    if status in (404, 410):
        return SendResult(DeliveryState.PERMANENT_FAILURE, status, error="subscription expired",
                          subscription_gone=True)
    if status == 429 or status >= 500:
        return SendResult(DeliveryState.PENDING, status, parse_retry_after(response.headers.get("retry-after"), now),
                          error=f"push service answered {status}")
    # 400, 401, 403, 413: the request was wrong (our keys, our JWT, our payload): retrying will not help.
    return SendResult(DeliveryState.TECHNICAL_FAILURE, status, error=f"push service refused: {status}")
