"""GraphQL payments: agencies issue orders, people (and parents, proxies) pay; amounts and scopes are checked."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.identity.tokens import issue_token
from api.platform.db import create_session_factory
from api.platform.scopes import TV_SCOPES
from payments.models import Payment, PaymentOrder
from tests.api.conftest import operation
from tests.payments import conftest as payment_fixtures
from tests.payments.conftest import PaymentPortal
from tests.payments.helpers import global_id, raw_id, start

# The payments fixtures (the sandbox gateway process, the portal on loopback), shared with tests/payments.
gateway_url = payment_fixtures.gateway_url
payment_portal = payment_fixtures.payment_portal

CREATE = """mutation Create($input: PaymentOrderCreateInput!, $key: String!) {
  paymentOrderCreate(input: $input, idempotencyKey: $key) { id amount state payeasy { paymentNumber } }
}"""


def order_input(code: str, amount: Any = 1_000) -> dict[str, Any]:
    return {"personCode": code, "amount": amount, "purpose": "国民健康保険料", "reference": "NHI-1",
            "dueDate": (date.today() + timedelta(days=20)).isoformat()}


async def _orders(engine: AsyncEngine) -> int:
    async with create_session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(PaymentOrder)) or 0)


async def test_an_agency_creates_an_order_and_replays_it(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    first = await pp.portal.query(CREATE, {"input": order_input(pp.father_code), "key": "k-1"}, token=pp.agency_key)
    again = await pp.portal.query(CREATE, {"input": order_input(pp.father_code), "key": "k-1"}, token=pp.agency_key)
    other = await pp.portal.query(CREATE, {"input": order_input(pp.father_code, 2_000), "key": "k-1"},
                                  token=pp.agency_key)
    assert first["data"]["paymentOrderCreate"]["amount"] == 1_000
    assert again == first
    assert [e["extensions"]["code"] for e in other["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await _orders(engine) == 1


@pytest.mark.parametrize(("_case", "amount"), [("float", 1.5), ("zero", 0), ("negative", -100),
                                               ("string", "100"), ("too large", 100_000_001),
                                               ("beyond Int", 2**40)])
async def test_amounts_that_are_not_positive_integers_are_bad_input(
    payment_portal: PaymentPortal, engine: AsyncEngine, _case: str, amount: object
) -> None:
    pp = payment_portal
    answer = await pp.portal.query(CREATE, {"input": order_input(pp.father_code, amount), "key": "k-2"},
                                   token=pp.agency_key)
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["BAD_USER_INPUT"]
    assert await _orders(engine) == 0


async def test_a_person_cannot_create_orders_and_an_agency_cannot_pay(payment_portal: PaymentPortal) -> None:
    pp = payment_portal
    as_person = await pp.portal.query(CREATE, {"input": order_input(pp.father_code), "key": "k-3"},
                                      token=pp.portal.father_token)
    assert [e["extensions"]["code"] for e in as_person["errors"]] == ["FORBIDDEN"]
    order_id = (await pp.create_order()).json()["order_id"]
    as_agency = await start(pp, order_id, token=pp.agency_key)
    assert [e["extensions"]["code"] for e in as_agency["errors"]] == ["FORBIDDEN"]


async def test_a_parent_pays_for_a_minor_child_in_their_own_name(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    order_id = (await pp.create_order(person_code=pp.child_code, amount=700)).json()["order_id"]
    due = await pp.portal.query(operation("PaymentOrdersDue"), {"forPerson": global_id("Person", pp.portal.child)},
                                token=pp.portal.father_token)
    assert [e["node"]["amount"] for e in due["data"]["paymentOrders"]["edges"]] == [700]
    answer = await start(pp, order_id)
    async with create_session_factory(engine)() as session:
        payment = await session.get(Payment, raw_id(answer["data"]["paymentStart"]["id"]))
    assert payment is not None
    assert (payment.person_id, payment.actor_person_id, payment.acting_basis) == (
        pp.portal.child, pp.portal.father, "parent")


async def test_someone_else_cannot_see_or_pay_an_adults_orders(
    payment_portal: PaymentPortal, engine: AsyncEngine
) -> None:
    pp = payment_portal
    order_id = (await pp.create_order(person_code=pp.mother_code)).json()["order_id"]
    answer = await start(pp, order_id)
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["NOT_FOUND"]
    due = await pp.portal.query(operation("PaymentOrdersDue"), {"forPerson": global_id("Person", pp.portal.mother)},
                                token=pp.portal.father_token)
    assert [e["extensions"]["code"] for e in due["errors"]] == ["NOT_AUTHORIZED_FOR_PERSON"]
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 0


async def test_a_tv_session_cannot_pay(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    async with create_session_factory(engine)() as session, session.begin():
        tv_token = await issue_token(session, pp.portal.father, ttl=timedelta(minutes=5), scopes=TV_SCOPES)
    order_id = (await pp.create_order()).json()["order_id"]
    answer = await start(pp, order_id, token=tv_token)
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN"]
