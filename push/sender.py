"""Sending one Web Push message (RFC 8030) and reading the push service's answer.

Plain inputs and a plain outcome: what to send (payload bytes, TTL, Urgency, Topic) is the caller's, and so
is what the outcome means to it. Headers set here because ``webpush`` does not: TTL (explicit), Urgency and
Topic (a push service replaces an undelivered message of the same topic).
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import httpx

from push.encryption import encrypt
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
    """One client per process; an extra CA only for a development push service on loopback.

    HTTP/2 (ALPN h2; a receiver without it gets HTTP/1.1): one connection per push service carries every
    concurrent message as its own stream, so there is one TLS handshake per push service, not one per
    connection of a pool, and no pool of idle HTTP/1.1 connections to scan per request. The caller bounds how
    many requests are in flight (httpcore opens at most 100 streams on a connection and queues the rest).
    """
    verify: ssl.SSLContext | bool = True
    if ca_file:
        verify = ssl.create_default_context()
        verify.load_verify_locations(ca_file)
    return httpx.AsyncClient(verify=verify, timeout=timeout, http2=http2, follow_redirects=False,
                             limits=httpx.Limits(max_connections=connections,
                                                 max_keepalive_connections=connections))


def _overall_timeout(client: httpx.AsyncClient) -> float:
    timeout = client.timeout
    parts = [t for t in (timeout.connect, timeout.write, timeout.read, timeout.pool) if t is not None]
    return sum(parts) if parts else 60.0


async def send_push(client: httpx.AsyncClient, signer: VapidSigner, target: PushTarget, payload: bytes, *,
                    ttl: int, urgency: Urgency = "normal", topic: str | None = None,
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
        # A bound of our own besides httpx's per-read timeouts: a push service that keeps a stream open but
        # never answers it must not hold a send (and its lease) for ever; the message is retried later.
        async with asyncio.timeout(_overall_timeout(client)):
            response = await client.post(target.endpoint, content=body, headers=headers)
    except httpx.TransportError as error:
        return PushResult(Verdict.RETRY, None, error=f"transport: {type(error).__name__}")
    except TimeoutError:
        return PushResult(Verdict.RETRY, None, error="transport: no answer in time")
    status = response.status_code
    if status in (200, 201, 202):
        return PushResult(Verdict.ACCEPTED, status)
    if status in (404, 410):
        return PushResult(Verdict.GONE, status, error="subscription expired")
    if status == 429 or status >= 500:
        return PushResult(Verdict.RETRY, status, parse_retry_after(response.headers.get("retry-after"), now),
                          error=f"push service answered {status}")
    return PushResult(Verdict.REFUSED, status, error=f"push service refused: {status}")
