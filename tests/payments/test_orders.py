"""An order may ride on a notice only of its own agency; any other notice id gets NOT_FOUND."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from api.notices.models import Audience, Category
from api.notices.service import NewNotice, publish_notice
from api.platform.errors import PortalError
from payments.models import PaymentOrder
from payments.orders import NewOrder, create_order
from tests.api.notices import conftest as notices_fixtures
from tests.api.notices.conftest import Demo
from tests.api.notices.test_service import NOW, TODAY

REFUSED = ("NOT_FOUND", "No notice of your agency has this id.")
demo = notices_fixtures.demo  # the demo people and agencies


async def notice_of(demo: Demo, agency_id: uuid.UUID, code: str) -> uuid.UUID:
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, agency_id, NewNotice(
            audience=Audience.PERSON, category=Category.TAX, title="納付のお願い", body="納付書です。",
            recipient_code=code), now=NOW, today=TODAY)
    return published.notice.id


async def order_on(demo: Demo, notice_id: uuid.UUID) -> PaymentOrder:
    code = await demo.code(demo.pension, demo.mother)
    async with demo.factory() as session, session.begin():
        order, _ = await create_order(session, demo.pension.id, NewOrder(
            code, 3_000, "国民年金保険料", TODAY, f"R-{uuid.uuid4().hex[:8]}", notice_id=notice_id),
            idempotency_key=str(uuid.uuid4()), today=TODAY, now=NOW)
    return order


async def test_an_order_rides_on_its_own_agencys_notice(demo: Demo) -> None:
    notice_id = await notice_of(demo, demo.pension.id, await demo.code(demo.pension, demo.mother))
    assert (await order_on(demo, notice_id)).notice_id == notice_id


async def test_another_agencys_notice_is_refused_as_if_it_did_not_exist(demo: Demo) -> None:
    city_notice = await notice_of(demo, demo.city.id, await demo.code(demo.city, demo.mother))
    for notice_id in (city_notice, uuid.uuid4()):  # the same answer for both: nothing revealed
        with pytest.raises(PortalError) as refused:
            await order_on(demo, notice_id)
        assert (refused.value.code, refused.value.message) == REFUSED
    async with demo.factory() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentOrder)) == 0
