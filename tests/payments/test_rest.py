"""The gateway notification endpoint: replays and reordering change a payment once; forgeries change nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.platform.replay import WebhookReceipt
from api.platform.webhooks import sign_headers
from payments.models import CallbackMessage, LedgerJournal, Payment, PaymentEvent, PaymentOrder
from tests.payments.conftest import GATEWAY_SECRET, PaymentPortal
from tests.payments.helpers import raw_id, start


def notification(payment: Payment, state: str, *, secret: str = GATEWAY_SECRET, amount: int | None = None,
                 timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": f"session.{state}", "data": {
        "id": payment.gateway_reference, "merchant_reference": str(payment.id),
        "amount": payment.amount if amount is None else amount, "state": state,
        "captured_at": "2026-04-01T03:00:00+00:00" if state == "success" else None,
        "card_brand": "visa", "card_last4": "4242"}}).encode()
    headers = sign_headers(secret, f"gwmsg_{uuid.uuid4().hex}", body, timestamp=timestamp or int(time.time()))
    return body, {**headers, "content-type": "application/json"}


async def _started_payment(pp: PaymentPortal, engine: AsyncEngine) -> Payment:
    order_id = (await pp.create_order(amount=8_000)).json()["order_id"]
    answer = await start(pp, order_id)
    async with create_session_factory(engine)() as session:
        payment = await session.get(Payment, raw_id(answer["data"]["paymentStart"]["id"]))
    assert payment is not None
    return payment


async def _counts(engine: AsyncEngine, payment_id: uuid.UUID) -> dict[str, object]:
    async with create_session_factory(engine)() as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None
        events = list(await session.scalars(select(PaymentEvent.state).where(PaymentEvent.payment_id == payment_id)))
        return {
            "state": payment.state.value,
            "events": sorted(e.value for e in events),
            "journals": await session.scalar(select(func.count()).select_from(LedgerJournal)),
            "callbacks": await session.scalar(select(func.count()).select_from(CallbackMessage)),
            "orders_paid": await session.scalar(select(func.count()).select_from(PaymentOrder)
                                                .where(PaymentOrder.state == "paid")),
        }


async def test_a_notification_replayed_five_times_and_out_of_order_changes_the_state_once(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    payment = await _started_payment(pp, engine)
    success = [notification(payment, "success") for _ in range(5)]
    late_submitted = notification(payment, "submitted")
    # The success arrives first; its four replays race each other; the "submitted" comes last.
    first = await pp.client.post("/payments/gateway/notifications", content=success[0][0], headers=success[0][1])
    replays = await asyncio.gather(*(pp.client.post("/payments/gateway/notifications", content=body, headers=headers)
                                     for body, headers in success[1:]))
    late = await pp.client.post("/payments/gateway/notifications", content=late_submitted[0],
                                headers=late_submitted[1])
    assert [first.status_code, *(r.status_code for r in replays), late.status_code] == [204] * 6
    assert await _counts(engine, payment.id) == {
        "state": "success", "events": ["created", "started", "success"], "journals": 1, "callbacks": 1,
        "orders_paid": 1,
    }


async def test_the_same_delivery_again_is_answered_from_the_replay_guard_and_a_failed_one_is_released(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    payment = await _started_payment(pp, engine)
    body, headers = notification(payment, "success")
    answers = [await pp.client.post("/payments/gateway/notifications", content=body, headers=headers)
               for _ in range(3)]
    assert [answer.status_code for answer in answers] == [204] * 3
    refused_body, refused_headers = notification(payment, "success", amount=1)  # no payment matches: 404
    refused = await pp.client.post("/payments/gateway/notifications", content=refused_body, headers=refused_headers)
    assert refused.status_code == 404
    async with create_session_factory(engine)() as session:
        receipts = list(await session.scalars(select(WebhookReceipt.message_id)))
    # One receipt: the applied delivery's id; the refused one's claim was released so a retry is applied.
    assert receipts == [headers["webhook-id"]]
    assert (await _counts(engine, payment.id))["events"] == ["created", "started", "success"]


@pytest.mark.parametrize(("_case", "forge"), [
    ("wrong secret", lambda p: notification(p, "success", secret="not-the-gateway-secret-at-all")),
    ("tampered amount", lambda p: (notification(p, "success", amount=1)[0], notification(p, "success")[1])),
    ("stale timestamp", lambda p: notification(p, "success", timestamp=int(time.time()) - 3600)),
    ("no signature", lambda p: (notification(p, "success")[0], {"content-type": "application/json"})),
])
async def test_a_forged_notification_is_rejected_and_changes_nothing(
    payment_portal: PaymentPortal, engine: AsyncEngine, _case: str, forge: object
) -> None:
    pp = payment_portal
    payment = await _started_payment(pp, engine)
    before = await _counts(engine, payment.id)
    body, headers = forge(payment)  # type: ignore[operator]
    response = await pp.client.post("/payments/gateway/notifications", content=body, headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, "SIGNATURE_INVALID")
    assert response.headers["content-type"] == "application/problem+json"
    assert await _counts(engine, payment.id) == before == {
        "state": "started", "events": ["created", "started"], "journals": 0, "callbacks": 0, "orders_paid": 0}


async def test_a_signed_notification_for_another_amount_is_refused(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    payment = await _started_payment(pp, engine)
    body, headers = notification(payment, "success", amount=1)
    response = await pp.client.post("/payments/gateway/notifications", content=body, headers=headers)
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
    assert (await _counts(engine, payment.id))["state"] == "started"


@pytest.mark.parametrize("amount", [0, -1, 1.5, "100", True, None, 100_000_001])
async def test_amounts_that_are_not_positive_integers_are_refused(
    payment_portal: PaymentPortal, engine: AsyncEngine, amount: object
) -> None:
    response = await payment_portal.create_order(amount=amount)  # type: ignore[arg-type]
    assert (response.status_code, response.json()["code"]) == (400, "AMOUNT_INVALID")
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentOrder)) == 0


async def test_agencies_see_only_their_own_people_by_their_own_codes(payment_portal: PaymentPortal) -> None:
    pp = payment_portal
    unknown = await pp.create_order(person_code="0" * 32)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND")
    anonymous = await pp.client.post("/payments/v1/orders", json={}, headers={"idempotency-key": "k"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize(("extra", "code", "field"), [
    ({"amount": 2**63}, "VALUE_OUT_OF_RANGE", "body.amount"),
    ({"purpose": "住民税\u0000"}, "TEXT_INVALID", "body.purpose"),
    ({"reference": "R-\ud800"}, "TEXT_INVALID", "body.reference"),
    ({"due_date": "9999-12-31"}, "VALUE_OUT_OF_RANGE", "due_date"),
    ({"payable_until": "0001-01-01"}, "VALUE_OUT_OF_RANGE", "payable_until"),
])
async def test_an_order_with_a_value_no_column_can_hold_is_refused_at_the_edge(
    payment_portal: PaymentPortal, engine: AsyncEngine, extra: dict[str, object], code: str, field: str
) -> None:
    pp = payment_portal
    body = {"person_code": pp.father_code, "amount": 12_000, "purpose": "住民税 第1期", "due_date": "2027-01-31",
            "reference": "R-edge", **extra}
    response = await pp.client.post("/payments/v1/orders", content=json.dumps(body),  # \ud800 escaped
                                    headers={**pp.agency_headers(), "content-type": "application/json"})
    assert (response.status_code, response.json()["code"], response.json()["field"]) == (400, code, field)
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentOrder)) == 0


async def test_a_payments_listing_with_a_nul_in_a_parameter_is_refused(payment_portal: PaymentPortal) -> None:
    response = await payment_portal.client.get("/payments/v1/payments", params={"reference": "R\x00"},
                                               headers=payment_portal.agency_headers())
    assert (response.status_code, response.json()["code"], response.json()["field"]) == (
        400, "TEXT_INVALID", "reference")
