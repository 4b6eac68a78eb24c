"""The read units of work: who may see an order, and a person reading for someone they do not act for."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.agencies.credentials import agency_by_slug
from api.agencies.service import assign_code
from api.demo import seed_demo
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory, utcnow
from api.platform.errors import PortalError
from api.platform.pagination import PageRequest
from payments import actions, reads
from payments.orders import NewOrder
from payments.reads import Reader
from tests.payments.conftest import TAX_OFFICE

TODAY = date(2026, 11, 27)


async def test_who_may_read_an_order(engine: AsyncEngine, cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        father, mother, child = (await seed_demo(session, cipher)).people
        tax = await agency_by_slug(session, TAX_OFFICE)
        pension = await agency_by_slug(session, "japan-pension-service")
        code = await assign_code(session, tax.id, child)
    due = utcnow().date() + timedelta(days=10)
    order, created = await actions.create_order(factory, tax.id, NewOrder(
        person_code=code, amount=1_200, purpose="住民税", due_date=due, agency_reference="R-1"),
        idempotency_key="k-1")
    assert created
    readers = [Reader(agency_id=tax.id), Reader(agency_id=pension.id), Reader(person_id=child, today=TODAY),
               Reader(person_id=father, today=TODAY)]
    seen = [(await reads.orders_by_ids(factory, reader, [order.id]))[0] for reader in readers]
    assert [found.id if found else None for found in seen] == [order.id, None, order.id, order.id]
    page = await reads.person_orders(factory, father, child, PageRequest.parse(None, None), states=[], today=TODAY)
    assert [found.id for _, found in page.items] == [order.id]
    with pytest.raises(PortalError) as refused:
        await reads.person_orders(factory, father, mother, PageRequest.parse(None, None), states=[], today=TODAY)
    assert (refused.value.code, refused.value.message) == ("NOT_AUTHORIZED_FOR_PERSON",
                                                           "You may not see this person's payments.")
