"""Input the payments REST API once answered with a 500 (found by tests/fuzz): each is now a problem with a code,
and nothing is stored."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.platform.webhooks import sign_headers
from payments.models import CallbackEndpoint, Payment, PaymentOrder
from tests.payments.conftest import GATEWAY_SECRET, PaymentPortal
from tests.payments.helpers import raw_id, start


def _cursor(values: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def _order_count(engine: AsyncEngine) -> int:
    async with create_session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(PaymentOrder)) or 0)


@pytest.mark.parametrize(("extra", "code", "field"), [
    ({"purpose": "住民税\x00"}, "TEXT_INVALID", "body.purpose"),
    ({"reference": "R-\ud800"}, "TEXT_INVALID", "body.reference"),
    ({"notice_id": {"id": 1}}, "BAD_USER_INPUT", None),  # uuid.UUID(dict): an AttributeError, a 500
    ({"due_date": 20270101}, "BAD_USER_INPUT", None),
    ({"payable_until": ["2027-01-01"]}, "BAD_USER_INPUT", None),
])
async def test_an_order_with_bad_text_or_types_is_refused(payment_portal: PaymentPortal, engine: AsyncEngine,
                                                          extra: dict, code: str, field: str | None) -> None:
    before = await _order_count(engine)
    # json.dumps escapes a lone surrogate (\\ud800): valid JSON that decodes to text no codec can encode
    body = {"person_code": payment_portal.father_code, "amount": 1000, "purpose": "住民税", "reference": "R-1",
            "due_date": (date.today() + timedelta(days=30)).isoformat(), **extra}
    response = await payment_portal.client.post("/payments/v1/orders", content=json.dumps(body).encode(), headers={
        **payment_portal.agency_headers(), "content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json().get("field")) == (code, field)
    assert await _order_count(engine) == before


@pytest.mark.parametrize(("params", "code", "field"), [
    ({"reference": "R-\x00"}, "TEXT_INVALID", "reference"),  # psycopg: DataError (PostgreSQL text cannot hold NUL)
    ({"to_date": "9999-12-31"}, "VALUE_OUT_OF_RANGE", "to_date"),  # the day after overflowed
    ({"from_date": "0001-01-01"}, "VALUE_OUT_OF_RANGE", "from_date"),
])
async def test_a_payments_query_with_bad_text_or_dates_is_refused(payment_portal: PaymentPortal, params: dict,
                                                                  code: str, field: str) -> None:
    response = await payment_portal.client.get("/payments/v1/payments", params=params,
                                               headers=payment_portal.agency_headers())
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (code, field)


async def test_a_cursor_with_a_naive_time_is_refused(payment_portal: PaymentPortal) -> None:
    after = _cursor(["2026-07-16T04:59:07", str(uuid.uuid4())])  # this server's cursors carry UTC
    response = await payment_portal.client.get("/payments/v1/payments", params={"after": after},
                                               headers=payment_portal.agency_headers())
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(("url", "code", "field"), [("https://agency.example/\x00", "TEXT_INVALID", "body.url"),
                                                   (42, "BAD_USER_INPUT", "url"), (None, "BAD_USER_INPUT", "url")])
async def test_a_callback_url_with_nul_or_not_text_is_refused_and_not_stored(
    payment_portal: PaymentPortal, engine: AsyncEngine, url: object, code: str, field: str
) -> None:
    response = await payment_portal.client.put("/payments/v1/callback-endpoint", json={"url": url},
                                               headers=payment_portal.agency_headers())
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(CallbackEndpoint)) == 0


@pytest.mark.parametrize("extra", [
    {"state": "success", "captured_at": "2026-01-01T00:00:00"},  # naive: refused by the UTC column, a 500
    {"state": "success", "card_brand": "visa\x00", "captured_at": "2026-01-01T00:00:00+00:00"},  # PostgreSQL: NUL
    {"state": "submitted", "card_last4": "4" * 500},  # PostgreSQL: too long for VARCHAR(4)
    {"state": "created", "next_url": "\x00"},
    {"state": "declined", "error_code": ["P0010"]},  # unhashable: a TypeError in the state machine
    {"state": "created", "id": 12345},
])
async def test_a_signed_notification_the_tables_cannot_hold_is_refused_and_changes_nothing(
    payment_portal: PaymentPortal, engine: AsyncEngine, extra: dict
) -> None:
    order_id = (await payment_portal.create_order(amount=1000)).json()["order_id"]
    answer = await start(payment_portal, order_id)
    async with create_session_factory(engine)() as session:
        payment = await session.get(Payment, raw_id(answer["data"]["paymentStart"]["id"]))
    assert payment is not None
    before = (payment.state, payment.card_brand, payment.card_last4, payment.captured_at)
    body = json.dumps({"type": "session.updated", "data": {
        "id": payment.gateway_reference, "merchant_reference": str(payment.id), "amount": 1000, **extra}}).encode()
    response = await payment_portal.client.post("/payments/gateway/notifications", content=body, headers={
        **sign_headers(GATEWAY_SECRET, f"msg_{uuid.uuid4().hex}", body), "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_USER_INPUT"
    async with create_session_factory(engine)() as session:
        after = await session.get(Payment, payment.id)
    assert after is not None and (after.state, after.card_brand, after.card_last4, after.captured_at) == before


async def test_json_nested_deeper_than_the_parser_goes_is_a_bad_request(payment_portal: PaymentPortal) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # json.loads raises RecursionError, which is no ValueError
    order = await payment_portal.client.post("/payments/v1/orders", content=deep, headers={
        **payment_portal.agency_headers(), "content-type": "application/json"})
    notification = await payment_portal.client.post("/payments/gateway/notifications", content=deep, headers={
        **sign_headers(GATEWAY_SECRET, f"msg_{uuid.uuid4().hex}", deep), "content-type": "application/json"})
    assert [(r.status_code, r.json()["code"]) for r in (order, notification)] == [(400, "BAD_USER_INPUT")] * 2
