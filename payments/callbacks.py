"""Callbacks to agencies: an outbox written with the change it reports, delivered after commit.

Signed with Standard Webhooks (each agency's secret is derived from MYNAPORTAL_PAYMENT_CALLBACK_KEY, so
none is stored); the ``webhook-id`` is the message id, stable across retries, so receivers dedupe.
Retry ladder from GOV.UK Pay: 60 s, 5 min, 1 h, 1 day, 2 days, then failed; only network errors, 429 and
5xx are retried (GOV.UK Notify); every attempt is recorded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.platform.webhooks import SECRET_PREFIX, DestinationRefused, check_destination, sign_headers
from payments.models import CallbackAttempt, CallbackEndpoint, CallbackMessage, CallbackState
from payments.statements import ADD_MESSAGE, MESSAGES

RETRY_LADDER = (timedelta(seconds=60), timedelta(minutes=5), timedelta(hours=1), timedelta(days=1),
                timedelta(days=2))
CLAIM_FOR = timedelta(seconds=60)
TIMEOUT_SECONDS = 5.0


def agency_secret(callback_key: str, agency_id: uuid.UUID) -> str:
    """The agency's Standard Webhooks secret (``whsec_…``), derived: rotate the master key to rotate all."""
    key = hmac.new(callback_key.encode(), b"payment-callbacks:" + agency_id.bytes, hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


async def set_endpoint(
    session: AsyncSession, agency_id: uuid.UUID, url: str, *, now: datetime, allow_private: bool
) -> None:
    """Register the agency's callback URL: https to a public address (plain http and loopback only in
    development), so an agency key cannot make the portal call into its own network (SSRF)."""
    await check_destination(url, allow_private=allow_private)
    row = await session.get(CallbackEndpoint, agency_id)
    if row is None:
        session.add(CallbackEndpoint(agency_id=agency_id, url=url, updated_at=now))
    else:
        row.url, row.updated_at = url, now
    await session.flush()


async def enqueue(
    session: AsyncSession, *, agency_id: uuid.UUID, event_type: str, payment_id: uuid.UUID | None,
    data: dict[str, Any], now: datetime, has_endpoint: bool | None = None,
) -> CallbackMessage:
    """``has_endpoint``: whether the agency has a callback endpoint, when the caller already read it."""
    if has_endpoint is None:
        has_endpoint = await session.get(CallbackEndpoint, agency_id) is not None
    message = CallbackMessage(
        id=uuid.uuid4(), agency_id=agency_id, event_type=event_type, payment_id=payment_id,
        payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
        state=CallbackState.PENDING if has_endpoint else CallbackState.WILL_NOT_SEND, attempts=0,
        next_attempt_at=now, claimed_until=None, last_status_code=None, created_at=now,
    )
    # One Core INSERT of the message's columns: the ORM's flush (unit of work) cost more CPU than the statement.
    await session.execute(ADD_MESSAGE, {column.key: getattr(message, column.key) for column in MESSAGES.columns})
    return message


@dataclass
class DeliveryRun:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


async def deliver_due(
    session_factory: async_sessionmaker[AsyncSession], client: httpx.AsyncClient, callback_key: str | Sequence[str],
    *, now: datetime, allow_private: bool, limit: int = 100,
) -> DeliveryRun:
    """``callback_key``: the master key, or during its rotation the new and the previous one (each message then
    carries both agencies' signatures, so an agency may switch secrets at any time in the grace period)."""
    master_keys = [callback_key] if isinstance(callback_key, str) else list(callback_key)
    run = DeliveryRun()
    async with session_factory() as session, session.begin():
        due = (select(CallbackMessage.id)
               .where(CallbackMessage.state == CallbackState.PENDING, CallbackMessage.next_attempt_at <= now,
                      or_(CallbackMessage.claimed_until.is_(None), CallbackMessage.claimed_until < now))
               .order_by(CallbackMessage.next_attempt_at).limit(limit))
        claimed_until = now + CLAIM_FOR
        # The outer predicates are re-checked on a locked row (PostgreSQL), so two workers never share one.
        claimed = (await session.execute(
            update(CallbackMessage)
            .where(CallbackMessage.id.in_(due), CallbackMessage.state == CallbackState.PENDING,
                   or_(CallbackMessage.claimed_until.is_(None), CallbackMessage.claimed_until < now))
            .values(claimed_until=claimed_until)
            .returning(CallbackMessage.id, CallbackMessage.agency_id, CallbackMessage.payload,
                       CallbackMessage.attempts)
            .execution_options(synchronize_session=False)
        )).all()
        urls = {row.agency_id: row.url for row in await session.scalars(
            select(CallbackEndpoint).where(CallbackEndpoint.agency_id.in_({c.agency_id for c in claimed})))}
    for message_id, agency_id, payload, attempts in claimed:
        url = urls.get(agency_id)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        started = time.perf_counter()
        status: int | None = None
        refused = None
        if url is not None:
            try:  # again at send time: the name may resolve elsewhere since registration
                await check_destination(url, allow_private=allow_private)
            except DestinationRefused as error:
                refused = str(error)
        if url is None:
            outcome, retry = "no endpoint", False
        elif refused is not None:
            outcome, retry = f"refused: {refused}", False
        else:
            headers = {**sign_headers([agency_secret(key, agency_id) for key in master_keys], str(message_id), body,
                                      timestamp=int(now.timestamp())), "content-type": "application/json"}
            try:
                response = await client.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
                status = response.status_code
                outcome = f"HTTP {status}"
                retry = status == 429 or status >= 500
            except httpx.HTTPError as error:
                outcome, retry = type(error).__name__, True
        succeeded = status is not None and 200 <= status < 300
        tries = attempts + 1
        if succeeded:
            state, next_at = CallbackState.SUCCESSFUL, now
            run.delivered += 1
        elif retry and tries <= len(RETRY_LADDER):
            state, next_at = CallbackState.PENDING, now + RETRY_LADDER[tries - 1]
            run.retrying += 1
        else:
            state, next_at = CallbackState.FAILED, now
            run.failed += 1
        async with session_factory() as session, session.begin():
            session.add(CallbackAttempt(callback_id=message_id, attempted_at=now, status_code=status,
                                        outcome=outcome[:200],
                                        duration_ms=int((time.perf_counter() - started) * 1000)))
            await session.execute(
                update(CallbackMessage)
                .where(CallbackMessage.id == message_id, CallbackMessage.claimed_until == claimed_until)
                .values(state=state, attempts=tries, next_attempt_at=next_at, claimed_until=None,
                        last_status_code=status)
                .execution_options(synchronize_session=False)
            )
    return run
