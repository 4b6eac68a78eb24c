"""One Web Push request to the local push service (TLS on loopback): plain inputs in, a plain verdict out."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from push.sender import MAX_TTL, PushResult, PushTarget, Verdict, client_for, parse_retry_after, send_push, ttl_until
from push.vapid import VapidSigner, current_key, vapid_box
from tests.conftest import TEST_DATA_KEY
from tests.push.helpers import LocalPushService

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
PAYLOAD = json.dumps({"v": 1, "notice": "n-1"}).encode()


async def target_and_signer(session: AsyncSession, service: LocalPushService) -> tuple[PushTarget, VapidSigner]:
    box = vapid_box(TEST_DATA_KEY)
    key = await current_key(session, box)
    signer = VapidSigner(subject="mailto:push@example.jp")
    signer.load(key, box)
    subscription = (await service.subscriptions(1))[0]
    return PushTarget(subscription["endpoint"], subscription["keys"]["p256dh"], subscription["keys"]["auth"],
                      key.generation), signer


async def test_the_payload_and_headers_arrive_as_given(session: AsyncSession, push_service: LocalPushService) -> None:
    target, signer = await target_and_signer(session, push_service)
    async with client_for(str(push_service.ca_file)) as client:
        result = await send_push(client, signer, target, PAYLOAD, ttl=600, urgency="high", topic="t1", now=NOW)
    assert (result.verdict, result.status_code) == (Verdict.ACCEPTED, 201)
    [message] = await push_service.messages()
    assert (message["payload"], message["ttl"], message["urgency"], message["topic"]) == (
        {"v": 1, "notice": "n-1"}, 600, "high", "t1")


async def test_concurrent_messages_to_one_push_service_share_one_http2_connection(
        session: AsyncSession, push_service: LocalPushService) -> None:
    # More than hypercorn's default of 1,000 requests per connection, which used to cut the connection with
    # streams in flight that were never answered (the sender waited for its timeout, then sent them again).
    count, in_flight = 1100, asyncio.Semaphore(64)
    target, signer = await target_and_signer(session, push_service)
    others = [PushTarget(s["endpoint"], s["keys"]["p256dh"], s["keys"]["auth"], target.vapid_generation)
              for s in await push_service.subscriptions(count - 1)]

    async def send(client: httpx.AsyncClient, each: PushTarget) -> PushResult:
        async with in_flight:
            return await send_push(client, signer, each, PAYLOAD, ttl=60, now=NOW)

    async with client_for(str(push_service.ca_file), timeout=60) as client:  # HTTP/2 is the default
        results = await asyncio.gather(*(send(client, each) for each in [target, *others]))
    assert [(r.status_code, r.error) for r in results] == [(201, None)] * count
    stats = await push_service.stats()
    assert (stats["requests"], stats["accepted"], stats["connections_by_http_version"]) == (count, count, {"2": 1})
    tokens = {m["vapid_key"] for m in await push_service.messages()}
    assert len(tokens) == 1 and len(signer._cache) == 1  # one signed JWT served them all


async def test_the_push_service_answers_become_verdicts(session: AsyncSession,
                                                        push_service: LocalPushService) -> None:
    target, signer = await target_and_signer(session, push_service)
    async with client_for(str(push_service.ca_file)) as client:
        await push_service.control("429", count=1, retry_after=30)
        throttled = await send_push(client, signer, target, PAYLOAD, ttl=60, now=NOW)
        await push_service.control("500", count=1)
        failing = await send_push(client, signer, target, PAYLOAD, ttl=60, now=NOW)
        await push_service.control("410", count=1)
        gone = await send_push(client, signer, target, PAYLOAD, ttl=60, now=NOW)
        target, _ = await target_and_signer(session, push_service)
        refused = await send_push(client, signer, target, PAYLOAD, ttl=60, topic="not a topic!", now=NOW)
        unreachable = await send_push(client, signer, PushTarget("https://127.0.0.1:1/x", target.p256dh, target.auth,
                                                                 target.vapid_generation), PAYLOAD, ttl=60, now=NOW)
    assert (throttled.verdict, throttled.status_code, throttled.retry_after) == (
        Verdict.RETRY, 429, timedelta(seconds=30))
    assert (failing.verdict, failing.status_code) == (Verdict.RETRY, 500)
    assert (gone.verdict, gone.status_code) == (Verdict.GONE, 410)
    assert (refused.verdict, refused.status_code) == (Verdict.REFUSED, 400)
    assert (unreachable.verdict, unreachable.status_code) == (Verdict.RETRY, None)  # nothing listens there
    assert (await push_service.stats())["accepted"] == 0


def test_ttl_runs_to_the_expiry_and_never_past_what_push_services_keep() -> None:
    assert ttl_until(NOW + timedelta(hours=2), NOW) == 7200
    assert ttl_until(None, NOW) == ttl_until(NOW + timedelta(days=90), NOW) == int(MAX_TTL.total_seconds())
    assert ttl_until(NOW - timedelta(seconds=1), NOW) == 0


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Mon, 01 Jun 2026 09:01:00 GMT", NOW) == timedelta(minutes=1)
    assert parse_retry_after("soon", NOW) is None
