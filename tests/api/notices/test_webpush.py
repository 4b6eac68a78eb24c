"""A notice as a Web Push message: what the push service is told, and what its answer means."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.notices.models import Category, DeliveryState, Priority
from api.notices.webpush import NoticePush, payload_of, send_notice_push, topic_of, urgency_of
from push.sender import PushTarget
from push.vapid import VapidSigner, b64url

NOTICE = uuid.UUID("12345678-1234-5678-1234-567812345678")
BROWSER = ec.generate_private_key(ec.SECP256R1()).public_key()
TARGET = PushTarget("https://push.example/x", b64url(BROWSER.public_bytes(Encoding.X962,
                                                                          PublicFormat.UncompressedPoint)),
                    b64url(secrets.token_bytes(16)), 1)


def message(category: Category = Category.TAX, priority: Priority = Priority.NORMAL) -> NoticePush:
    return NoticePush(NOTICE, category, priority, None, TARGET)


def test_the_payload_names_the_notice_and_nothing_personal() -> None:
    assert payload_of(message()) == b'{"v":1,"notice":"12345678-1234-5678-1234-567812345678","category":"tax"}'
    assert topic_of(NOTICE) == "12345678123456781234567812345678"


def test_disasters_and_high_priority_are_urgent() -> None:
    assert urgency_of(message(Category.DISASTER, Priority.LOW)) == "high"
    assert urgency_of(message(priority=Priority.HIGH)) == "high"
    assert urgency_of(message()) == "normal"
    assert urgency_of(message(priority=Priority.LOW)) == "low"


@pytest.mark.parametrize(("status", "state", "gone"), [
    (201, DeliveryState.DELIVERED, False), (410, DeliveryState.PERMANENT_FAILURE, True),
    (503, DeliveryState.PENDING, False), (400, DeliveryState.TECHNICAL_FAILURE, False)])
async def test_the_push_services_answer_becomes_the_deliverys_state(status: int, state: DeliveryState,
                                                                     gone: bool) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status)

    signer = VapidSigner(subject="mailto:push@example.jp")
    signer.keys[1] = (ec.generate_private_key(ec.SECP256R1()), "server-key")
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        result = await send_notice_push(client, signer, message(Category.DISASTER), now=datetime.now(UTC))
    assert (result.state, result.status_code, result.subscription_gone) == (state, status, gone)
    assert (sent[0].headers["topic"], sent[0].headers["urgency"], sent[0].headers["ttl"]) == (
        NOTICE.hex, "high", str(28 * 86400))
