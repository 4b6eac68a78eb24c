"""Sending one Web Push message (RFC 8030) and reading the push service's answer.

Plain inputs and a plain outcome: what to send (payload bytes, TTL, Urgency, Topic) is the caller's, and so
is what the outcome means to it. Headers set here because ``webpush`` does not: TTL (explicit), Urgency and
Topic (a push service replaces an undelivered message of the same topic).
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import httpx

from push.encryption import encrypt
from push.h2_client import Answer, NoAnswer, PushClient, tls_context
from push.vapid import VapidSigner

MAX_TTL = timedelta(days=28)  # what push services keep at most
Urgency = Literal["very-low", "low", "normal", "high"]  # RFC 8030 §5.3


@dataclass(frozen=True)
class PushTarget:
    """One subscription as the push service knows it, and the VAPID key generation it was made with."""

    endpoint: str
    p256dh: str
    auth: str
    vapid_generation: int


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"  # 200, 201, 202
    RETRY = "retry"  # no answer, 429 or 5xx: try again later
    GONE = "gone"  # 404, 410: the subscription no longer exists
    REFUSED = "refused"  # 400, 401, 403, 413: our request was wrong; retrying will not help


@dataclass(frozen=True)
class PushResult:
    verdict: Verdict
    status_code: int | None
    retry_after: timedelta | None = None  # what the push service asked for (RETRY only)
    error: str | None = None


def ttl_until(expires_at: datetime | None, now: datetime) -> int:
    """Seconds a message stays useful: until ``expires_at``, at most ``MAX_TTL``."""
    remaining = MAX_TTL if expires_at is None else min(expires_at - now, MAX_TTL)
    return max(int(remaining.total_seconds()), 0)


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


def client_for(ca_file: str | None, *, timeout: float = 10.0, connections: int = 64,
               http2: bool = True) -> httpx.AsyncClient:
    """An httpx client: for push services without HTTP/2 (``PushClient``'s fallback) and for tests.

    Senders use ``PushClient`` (push/h2_client.py): one multiplexed HTTP/2 connection per push service at a
    fraction of httpx's CPU per message.
    """
    return httpx.AsyncClient(verify=tls_context(ca_file), timeout=timeout, http2=http2, follow_redirects=False,
                             limits=httpx.Limits(max_connections=connections,
                                                 max_keepalive_connections=connections))


def _overall_timeout(client: httpx.AsyncClient) -> float:
    timeout = client.timeout
    parts = [t for t in (timeout.connect, timeout.write, timeout.read, timeout.pool) if t is not None]
    return sum(parts) if parts else 60.0


async def _post_httpx(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes) -> Answer:
    try:
        # A bound of our own besides httpx's per-read timeouts: a push service that keeps a stream open but
        # never answers it must not hold a send (and its lease) for ever; the message is retried later.
        async with asyncio.timeout(_overall_timeout(client)):
            response = await client.post(url, content=body, headers=headers)
    except httpx.TransportError as error:
        raise NoAnswer(type(error).__name__) from error
    except TimeoutError as error:
        raise NoAnswer("no answer in time") from error
    return Answer(response.status_code, response.headers.get("retry-after"))


async def send_push(client: PushClient | httpx.AsyncClient, signer: VapidSigner, target: PushTarget,
                    payload: bytes, *, ttl: int, urgency: Urgency = "normal", topic: str | None = None,
                    now: datetime) -> PushResult:
    """Encrypt ``payload`` for the target (RFC 8291) and POST it; ``topic`` is at most 32 base64url characters."""
    body = encrypt(payload, endpoint=target.endpoint, p256dh=target.p256dh, auth=target.auth)
    headers = {
        "authorization": signer.header(target.vapid_generation, target.endpoint),
        "content-encoding": "aes128gcm",
        "content-type": "application/octet-stream",
        "ttl": str(ttl),
        "urgency": urgency,
    }
    if topic is not None:
        headers["topic"] = topic
    try:
        if isinstance(client, PushClient):
            answer = await client.post(target.endpoint, headers, body)
        else:
            answer = await _post_httpx(client, target.endpoint, headers, body)
    except NoAnswer as error:
        return PushResult(Verdict.RETRY, None, error=f"transport: {error}")
    status = answer.status
    if status in (200, 201, 202):
        return PushResult(Verdict.ACCEPTED, status)
    if status in (404, 410):
        return PushResult(Verdict.GONE, status, error="subscription expired")
    if status == 429 or status >= 500:
        return PushResult(Verdict.RETRY, status, parse_retry_after(answer.retry_after, now),
                          error=f"push service answered {status}")
    return PushResult(Verdict.REFUSED, status, error=f"push service refused: {status}")
