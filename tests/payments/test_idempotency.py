"""Idempotency keys: one effect per key, under 200 concurrent requests; another body is a conflict."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from payments.models import IdempotencyKey, Payment, PaymentOrder
from tests.payments.conftest import PaymentPortal
from tests.payments.helpers import raw_id, start


async def _count(engine: AsyncEngine, model: type) -> int:
    async with create_session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_200_concurrent_starts_with_one_key_create_one_payment(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    order_id = (await pp.create_order(amount=3_000)).json()["order_id"]
    key = str(uuid.uuid4())
    answers = await asyncio.gather(*(start(pp, order_id, key=key) for _ in range(200)))
    assert all("errors" not in answer for answer in answers), [a for a in answers if "errors" in a][:1]
    ids = {answer["data"]["paymentStart"]["id"] for answer in answers}
    assert len(ids) == 1
    assert {answer["data"]["paymentStart"]["nextUrl"] for answer in answers} != {None}
    assert await _count(engine, Payment) == 1
    async with create_session_factory(engine)() as session:
        payment = await session.get(Payment, raw_id(ids.pop()))
    assert payment is not None and payment.state.value == "started" and payment.gateway_reference


async def test_another_key_for_the_same_order_is_refused_while_a_payment_is_in_progress(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    order_id = (await pp.create_order(amount=3_000)).json()["order_id"]
    first = await start(pp, order_id)
    second = await start(pp, order_id)
    assert first["data"]["paymentStart"]["state"]["status"] == "STARTED"
    assert second["data"] is None
    assert [e["extensions"]["code"] for e in second["errors"]] == ["PAYMENT_IN_PROGRESS"]
    assert await _count(engine, Payment) == 1


async def test_same_key_and_body_replays_the_order_and_another_body_conflicts(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    key = str(uuid.uuid4())
    first = await pp.create_order(amount=5_000, reference="REF-1", key=key)
    replay = await pp.create_order(amount=5_000, reference="REF-1", key=key)
    other = await pp.create_order(amount=5_001, reference="REF-1", key=key)
    assert (first.status_code, replay.status_code, other.status_code) == (201, 200, 409)
    assert replay.json() == first.json()
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert other.headers["content-type"] == "application/problem+json"
    assert await _count(engine, PaymentOrder) == 1
    assert await _count(engine, IdempotencyKey) == 1


async def test_state_changing_requests_need_a_valid_key(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    missing = await pp.client.post("/payments/v1/orders", json={}, headers={"authorization": f"Bearer {pp.agency_key}"})
    bad = await pp.create_order(key="not a key!")
    assert (missing.status_code, missing.json()["code"]) == (400, "IDEMPOTENCY_KEY_INVALID")
    assert (bad.status_code, bad.json()["code"]) == (400, "IDEMPOTENCY_KEY_INVALID")
    assert await _count(engine, PaymentOrder) == 0
