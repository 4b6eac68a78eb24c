"""Refunds: partial and full, never more than what remains, even under concurrency."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from payments import ledger
from payments.models import LedgerJournal, Payment, Refund
from tests.payments.conftest import PaymentPortal
from tests.payments.helpers import pay_at_gateway, raw_id, start, wait_for_state


async def _paid(pp: PaymentPortal, engine: AsyncEngine, amount: int) -> uuid.UUID:
    order_id = (await pp.create_order(amount=amount)).json()["order_id"]
    answer = (await start(pp, order_id))["data"]["paymentStart"]
    await pay_at_gateway(answer["nextUrl"])
    payment_id = raw_id(answer["id"])
    await wait_for_state(engine, payment_id, "success")
    return payment_id


async def _refund(pp: PaymentPortal, payment_id: uuid.UUID, body: dict, key: str | None = None):  # type: ignore[no-untyped-def, type-arg]
    return await pp.client.post(f"/payments/v1/payments/{payment_id}/refunds", json=body,
                                headers=pp.agency_headers(key))


async def test_a_refund_larger_than_what_remains_is_refused(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    payment_id = await _paid(pp, engine, 12_000)
    key = str(uuid.uuid4())
    partial = await _refund(pp, payment_id, {"amount": 5_000}, key)
    replay = await _refund(pp, payment_id, {"amount": 5_000}, key)
    too_much = await _refund(pp, payment_id, {"amount": 7_001})
    stale = await _refund(pp, payment_id, {"amount": 1_000, "refund_amount_available": 12_000})
    assert (partial.status_code, partial.json()["status"], partial.json()["amount"]) == (201, "success", 5_000)
    assert (replay.status_code, replay.json()) == (200, partial.json())
    assert (too_much.status_code, too_much.json()["code"]) == (409, "REFUND_EXCEEDS_AVAILABLE")
    assert too_much.json()["detail"] == "Only 7000 yen remain refundable."
    assert (stale.status_code, stale.json()["code"]) == (409, "REFUND_AMOUNT_AVAILABLE_MISMATCH")
    rest = await _refund(pp, payment_id, {"amount": 7_000, "refund_amount_available": 7_000})
    assert rest.status_code == 201
    async with create_session_factory(engine)() as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None and payment.refunded_amount == 12_000
        assert await session.scalar(select(func.count()).select_from(Refund)) == 2
        assert await ledger.balances(session, pp.agency_id) == {ledger.GATEWAY_CLEARING: 0,
                                                                 ledger.AGENCY_COLLECTIONS: 0}
        assert await session.scalar(select(func.count()).select_from(LedgerJournal)) == 3


async def test_concurrent_refunds_never_exceed_the_payment(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    payment_id = await _paid(pp, engine, 7_000)
    answers = await asyncio.gather(*(_refund(pp, payment_id, {"amount": 2_000}) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 7
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"REFUND_EXCEEDS_AVAILABLE"}
    async with create_session_factory(engine)() as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None and payment.refunded_amount == 6_000
        assert await ledger.balances(session, pp.agency_id) == {ledger.GATEWAY_CLEARING: 1_000,
                                                                 ledger.AGENCY_COLLECTIONS: -1_000}


async def test_refund_amounts_must_be_positive_integers(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    payment_id = await _paid(pp, engine, 1_000)
    for amount in (0, -5, 2.5, "10"):
        response = await _refund(pp, payment_id, {"amount": amount})
        assert (response.status_code, response.json()["code"]) == (400, "AMOUNT_INVALID")
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Refund)) == 0
