"""The HTTP/2 Web Push client against the local push service (hypercorn, TLS on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from push.h2_client import PushClient
from push.sender import PushResult, PushTarget, Verdict, send_push
from push.vapid import VapidSigner, b64url
from tests.push.helpers import LocalPushService, running_push_service

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def signer() -> VapidSigner:
    private = ec.generate_private_key(ec.SECP256R1())
    vapid = VapidSigner(subject="mailto:push@example.jp")
    vapid.keys[1] = (private, b64url(private.public_key().public_bytes(Encoding.X962,
                                                                        PublicFormat.UncompressedPoint)))
    return vapid


async def targets(service: LocalPushService, count: int) -> list[PushTarget]:
    return [PushTarget(s["endpoint"], s["keys"]["p256dh"], s["keys"]["auth"], 1)
            for s in await service.subscriptions(count)]


async def send_all(client: PushClient, vapid: VapidSigner, to: list[PushTarget]) -> list[PushResult]:
    return await asyncio.gather(*(
        send_push(client, vapid, target, json.dumps({"notice": str(i)}).encode(), ttl=60, now=NOW)
        for i, target in enumerate(to)))


@pytest.fixture
async def limited_service(tmp_path: Path) -> AsyncIterator[LocalPushService]:
    async with running_push_service(tmp_path, h2_max_concurrent_streams=5) as service:
        yield service


async def test_many_concurrent_messages_share_one_connection_and_arrive_decrypted(
        push_service: LocalPushService) -> None:
    vapid, to = signer(), await targets(push_service, 1500)
    async with PushClient(str(push_service.ca_file), timeout=60) as client:
        results = await send_all(client, vapid, to)
    assert [(r.verdict, r.status_code, r.error) for r in results] == [(Verdict.ACCEPTED, 201, None)] * 1500
    stats = await push_service.stats()
    assert (stats["requests"], stats["accepted"], stats["connections_by_http_version"]) == (1500, 1500, {"2": 1})
    messages = await push_service.messages()
    assert sorted(int(m["payload"]["notice"]) for m in messages) == list(range(1500))
    assert {(m["ttl"], m["urgency"], m["topic"]) for m in messages} == {(60, "normal", None)}


async def test_a_large_body_waits_for_the_flow_control_window(push_service: LocalPushService) -> None:
    # 40 messages of 4 KB are more than the 64 KB connection window the server opens with.
    vapid, to = signer(), await targets(push_service, 40)
    big = json.dumps({"notice": "x", "pad": "p" * 3900}).encode()
    async with PushClient(str(push_service.ca_file), timeout=30) as client:
        results = await asyncio.gather(*(send_push(client, vapid, t, big, ttl=60, now=NOW) for t in to))
    assert [r.status_code for r in results] == [201] * 40
    assert {len(m["payload"]["pad"]) for m in await push_service.messages()} == {3900}


async def test_the_push_service_answers_become_verdicts(push_service: LocalPushService) -> None:
    vapid, [target] = signer(), await targets(push_service, 1)
    async with PushClient(str(push_service.ca_file)) as client:
        accepted = await send_push(client, vapid, target, b"{}", ttl=60, urgency="high", topic="t1", now=NOW)
        await push_service.control("429", count=1, retry_after=30)
        throttled = await send_push(client, vapid, target, b"{}", ttl=60, now=NOW)
        await push_service.control("500", count=1)
        failing = await send_push(client, vapid, target, b"{}", ttl=60, now=NOW)
        await push_service.control("410", count=1)
        gone = await send_push(client, vapid, target, b"{}", ttl=60, now=NOW)
        unknown = await send_push(client, vapid, PushTarget(f"{push_service.origin}/nowhere/x", target.p256dh,
                                                            target.auth, 1), b"{}", ttl=60, now=NOW)
        [other] = await targets(push_service, 1)
        refused = await send_push(client, vapid, other, b"{}", ttl=60, topic="not a topic!", now=NOW)
    assert (accepted.verdict, accepted.status_code) == (Verdict.ACCEPTED, 201)
    assert (throttled.verdict, throttled.status_code, throttled.retry_after) == (
        Verdict.RETRY, 429, timedelta(seconds=30))
    assert (failing.verdict, failing.status_code, failing.retry_after) == (Verdict.RETRY, 500, None)
    assert (gone.verdict, gone.status_code) == (Verdict.GONE, 410)
    assert (unknown.verdict, unknown.status_code) == (Verdict.GONE, 404)
    assert (refused.verdict, refused.status_code) == (Verdict.REFUSED, 400)
    stats = await push_service.stats()
    assert (stats["requests"], stats["accepted"], stats["connections_by_http_version"]) == (5, 1, {"2": 1})
    [message] = await push_service.messages()
    assert (message["urgency"], message["topic"]) == ("high", "t1")


async def test_a_stream_never_answered_times_out_as_retry_and_the_connection_goes_on(
        push_service: LocalPushService) -> None:
    vapid, [held, later] = signer(), await targets(push_service, 2)
    await push_service.control("hold", count=1)
    async with PushClient(str(push_service.ca_file), timeout=0.5) as client:
        started = asyncio.get_running_loop().time()
        timed_out = await send_push(client, vapid, held, b"{}", ttl=60, now=NOW)
        waited = asyncio.get_running_loop().time() - started
        after = await send_push(client, vapid, later, b"{}", ttl=60, now=NOW)
    assert (timed_out.verdict, timed_out.status_code, timed_out.error) == (
        Verdict.RETRY, None, "transport: no answer in time")
    assert 0.5 <= waited < 2
    assert (after.verdict, after.status_code) == (Verdict.ACCEPTED, 201)
    stats = await push_service.stats()
    assert (stats["accepted"], stats["connections_by_http_version"]) == (1, {"2": 1})


async def test_goaway_mid_flight_makes_the_unanswered_retry_and_the_next_send_reconnects(tmp_path: Path) -> None:
    # hypercorn ends a connection with GOAWAY after keep_alive_max_requests, leaving the streams in flight
    # unanswered: the client must report each of them as RETRY (once), then open a new connection.
    async with running_push_service(tmp_path, keep_alive_max_requests=3) as service:
        vapid, to = signer(), await targets(service, 11)
        async with PushClient(str(service.ca_file), timeout=10) as client:
            started = asyncio.get_running_loop().time()
            cut = await send_all(client, vapid, to[:10])
            waited = asyncio.get_running_loop().time() - started
            after = await send_push(client, vapid, to[10], b"{}", ttl=60, now=NOW)
        stats = await service.stats()
    assert [(r.verdict, r.status_code) for r in cut] == [(Verdict.RETRY, None)] * 10
    assert {r.error for r in cut} == {"transport: push service closed the connection (GOAWAY NO_ERROR)"}
    assert waited < 5  # told at once, not after the timeout
    assert (after.verdict, after.status_code) == (Verdict.ACCEPTED, 201)
    assert stats["connections_by_http_version"] == {"2": 2}


async def test_no_more_streams_than_the_server_allows(limited_service: LocalPushService) -> None:
    vapid, to = signer(), await targets(limited_service, 20)
    await limited_service.control("hold")
    async with PushClient(str(limited_service.ca_file), timeout=30) as client:
        sending = asyncio.gather(*(send_push(client, vapid, t, b"{}", ttl=60, now=NOW) for t in to))
        for _ in range(100):
            if (await limited_service.stats())["requests"] >= 5:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert (await limited_service.stats())["requests"] == 5  # the other 15 wait for a free stream
        await limited_service.control("ok")  # the 5 held are released unaccepted (503), the rest go on
        results = await sending
    assert sorted((r.verdict, r.status_code) for r in results) == sorted(
        [(Verdict.RETRY, 503)] * 5 + [(Verdict.ACCEPTED, 201)] * 15)
    stats = await limited_service.stats()
    assert (stats["requests"], stats["accepted"], stats["connections_by_http_version"]) == (20, 15, {"2": 1})


async def test_a_push_service_without_h2_is_served_over_http_1_1(tmp_path: Path) -> None:
    async with running_push_service(tmp_path, alpn_protocols=["http/1.1"]) as service:
        vapid, to = signer(), await targets(service, 3)
        async with PushClient(str(service.ca_file)) as client:
            results = await send_all(client, vapid, to)
            assert client.http1_origins == {service.origin}
        stats = await service.stats()
    assert [(r.verdict, r.status_code) for r in results] == [(Verdict.ACCEPTED, 201)] * 3
    assert (stats["accepted"], set(stats["connections_by_http_version"])) == (3, {"1.1"})


async def test_nothing_listening_is_a_retry(push_service: LocalPushService) -> None:
    vapid, [target] = signer(), await targets(push_service, 1)
    async with PushClient(str(push_service.ca_file), timeout=5) as client:
        result = await send_push(client, vapid, PushTarget("https://127.0.0.1:1/push/x", target.p256dh,
                                                           target.auth, 1), b"{}", ttl=60, now=NOW)
    assert (result.verdict, result.status_code, result.error) == (
        Verdict.RETRY, None, "transport: ConnectionRefusedError")
