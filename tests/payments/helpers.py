"""Helpers shared by the payments tests: global ids, paying at the hosted page, waiting for a state."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import from_base64, to_base64

from api.platform.db import create_session_factory
from payments.models import Payment
from tests.api.conftest import operation
from tests.payments.conftest import PaymentPortal


def global_id(type_name: str, raw: str | uuid.UUID) -> str:
    return to_base64(type_name, str(raw))


def raw_id(node_id: str) -> uuid.UUID:
    return uuid.UUID(from_base64(node_id)[1])


async def start(pp: PaymentPortal, order_id: str, *, key: str | None = None, method: str = "CARD",
                token: str | None = None) -> dict:  # type: ignore[type-arg]
    return await pp.portal.query(operation("PaymentStart"),
                                 {"orderId": global_id("PaymentOrder", order_id), "method": method,
                                  "idempotencyKey": key or str(uuid.uuid4())},
                                 token=token or pp.portal.father_token)


async def pay_at_gateway(next_url: str, card: str = "4242424242424242") -> httpx.Response:
    async with httpx.AsyncClient() as browser:
        page = await browser.get(next_url)
        assert page.status_code == 200 and 'name="card_number"' in page.text
        return await browser.post(next_url, data={"card_number": card, "expiry": "12/30", "cvc": "123",
                                                  "action": "pay"})


async def wait_for_state(engine: AsyncEngine, payment_id: uuid.UUID, state: str, seconds: float = 10.0) -> Payment:
    factory = create_session_factory(engine)
    for _ in range(int(seconds / 0.05)):
        async with factory() as session:
            payment = await session.scalar(select(Payment).where(Payment.id == payment_id))
        if payment is not None and payment.state.value == state:
            return payment
        await asyncio.sleep(0.05)
    raise AssertionError(f"payment {payment_id} is {payment.state if payment else None}, not {state}")
