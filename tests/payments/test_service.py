"""Failures at the hosted page (GOV.UK Pay codes), expiry by the recovery job, cancellation by the payer."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory, utcnow
from payments.gateways.base import GatewaySession
from payments.gateways.sandbox import SandboxGateway
from payments.models import Payment, PaymentOrder
from payments.service import apply_gateway_session, recover
from tests.api.conftest import operation
from tests.payments.conftest import GATEWAY_SECRET, PaymentPortal
from tests.payments.helpers import global_id, pay_at_gateway, raw_id, start, wait_for_state


async def test_a_declined_card_finishes_with_p0010_and_the_order_stays_payable(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    order_id = (await pp.create_order(amount=2_000)).json()["order_id"]
    first = (await start(pp, order_id))["data"]["paymentStart"]
    await pay_at_gateway(first["nextUrl"], card="4000000000000002")
    declined = await wait_for_state(engine, raw_id(first["id"]), "declined")
    assert (declined.failure_code, declined.failure_message) == ("P0010", "Payment method rejected")
    assert declined.active_order_id is None
    status = await pp.portal.query(operation("PaymentStatus"), {"id": first["id"]}, token=pp.portal.father_token)
    assert status["data"]["node"]["state"] == {"status": "DECLINED", "finished": True, "code": "P0010",
                                               "message": "Payment method rejected"}
    second = (await start(pp, order_id))["data"]["paymentStart"]
    await pay_at_gateway(second["nextUrl"])
    await wait_for_state(engine, raw_id(second["id"]), "success")


async def test_an_abandoned_payment_times_out_through_recovery(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    payment_id = await _started_payment(pp)
    factory = create_session_factory(engine)
    gateway = SandboxGateway(pp.gateway_url, GATEWAY_SECRET)
    assert (await recover(factory, gateway)).__dict__ == {"checked": 1, "settled": 0, "expired": 0, "unreachable": 0}
    async with factory() as session, session.begin():
        await session.execute(update(Payment).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await recover(factory, gateway)).__dict__ == {"checked": 1, "settled": 0, "expired": 1, "unreachable": 0}
    await gateway.aclose()
    expired = await wait_for_state(engine, payment_id, "timedout")
    assert expired.failure_code == "P0020"
    async with factory() as session:
        order = await session.get(PaymentOrder, expired.order_id)
        assert order is not None and order.state.value == "open"


async def test_the_payer_cancels_and_the_hosted_page_refuses_it_afterwards(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    order_id = (await pp.create_order(amount=2_000)).json()["order_id"]
    started = (await start(pp, order_id))["data"]["paymentStart"]
    cancelled = await pp.portal.query(operation("PaymentCancel"), {"paymentId": started["id"]},
                                      token=pp.portal.father_token)
    assert cancelled["data"]["paymentCancel"]["state"] == {"status": "CANCELLED", "finished": True, "code": "P0030",
                                                           "message": "Payment was cancelled by the user"}
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(started["nextUrl"])).status_code == 410
    assert global_id("Payment", raw_id(started["id"])) == started["id"]


async def test_gateway_news_moves_a_payment_only_when_the_session_matches_its_amount_and_reference(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    payment_id = await _started_payment(pp)
    factory = create_session_factory(engine)
    async with factory() as session:
        started = await session.get(Payment, payment_id)
    assert started is not None and started.state.value == "started" and started.gateway_reference
    news = {"merchant_reference": str(payment_id), "state": "success", "captured_at": utcnow().isoformat(),
            "card_brand": "visa", "card_last4": "4242"}
    for wrong in ({"id": started.gateway_reference, "amount": 2_001}, {"id": "gws_someone_else", "amount": 2_000}):
        with pytest.raises(LookupError):
            async with factory() as session, session.begin():
                await apply_gateway_session(session, GatewaySession.from_json({**news, **wrong}), source="gateway",
                                            now=utcnow())
    async with factory() as session:
        unchanged = await session.get(Payment, payment_id)
        assert unchanged is not None and (unchanged.state.value, unchanged.paid_order_id) == ("started", None)
    async with factory() as session, session.begin():
        moved = await apply_gateway_session(session, GatewaySession.from_json(
            {**news, "id": started.gateway_reference, "amount": 2_000}), source="gateway", now=utcnow())
    assert moved is not None and (moved.state.value, moved.card_last4, moved.paid_order_id) == (
        "success", "4242", moved.order_id)


async def _started_payment(pp: PaymentPortal) -> uuid.UUID:
    """A new order of 2,000 yen and a payment of it started at the gateway: the payment's id."""
    order_id = (await pp.create_order(amount=2_000)).json()["order_id"]
    return raw_id((await start(pp, order_id))["data"]["paymentStart"]["id"])
