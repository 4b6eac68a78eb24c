"""Idempotency keys: one effect per key, under 200 concurrent requests; another body is a conflict."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from payments import idempotency
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


async def test_a_claim_made_with_the_resource_id_replays_it_and_dies_with_its_transaction(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    now = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    body = {"order_id": "o-1", "method": "card"}

    async def claim(resource_id: uuid.UUID, claimed_body: dict[str, str] = body,
                    at: datetime = now) -> uuid.UUID | None:
        async with factory() as session, session.begin():
            return await idempotency.claim(session, "scope", "key-1", claimed_body, now=at, resource_id=resource_id)

    with pytest.raises(ZeroDivisionError):  # the work after the claim failed: nothing of the claim is kept
        async with factory() as session, session.begin():
            assert await idempotency.claim(session, "scope", "key-1", body, now=now, resource_id=third) is None
            _ = 1 / 0
    assert await _count(engine, IdempotencyKey) == 0
    assert await claim(first) is None  # the first with the key: stored with the id its work will give
    assert await claim(second) == first  # a replay gets the original, whatever id it brought
    with pytest.raises(PortalError) as refused:
        await claim(second, {"order_id": "o-2", "method": "card"})
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"
    later = now + idempotency.RETENTION + timedelta(seconds=1)
    assert await claim(second, at=later) is None  # expired: used again, for the new resource
    assert await claim(third, at=later) == second
    async with factory() as session:
        stored = (await session.execute(select(IdempotencyKey.resource_id, IdempotencyKey.created_at))).one()
    assert stored == (second, later)


async def test_concurrent_starts_of_one_order_with_different_keys_make_one_payment(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    order_id = (await pp.create_order(amount=3_000)).json()["order_id"]
    answers = await asyncio.gather(*(start(pp, order_id) for _ in range(20)))
    assert sum("errors" not in answer for answer in answers) == 1
    assert sorted(e["extensions"]["code"] for a in answers for e in a.get("errors", [])) == ["PAYMENT_IN_PROGRESS"] * 19
    assert await _count(engine, Payment) == 1
    async with create_session_factory(engine)() as session:  # the refused starts' keys went with their transactions
        keys = await session.scalar(select(func.count()).select_from(IdempotencyKey).where(
            IdempotencyKey.scope.endswith(":payment-start")))
    assert keys == 1
