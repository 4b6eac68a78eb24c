"""A notice's payment slip must be one of the publishing agency's own orders; any other gets NOT_FOUND."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import func, select

from api.notices.attachments import payment_order_id
from api.notices.models import Audience, Category, Notice, NoticeAttachment
from api.notices.service import AttachmentSpec, NewNotice, publish_notice
from api.platform.errors import PortalError
from payments.orders import NewOrder, create_order
from tests.api.notices.conftest import Demo
from tests.api.notices.test_service import NOW, TODAY

REFUSED = ("NOT_FOUND", "A payment slip names no payment order of your agency.")


def global_id(order_id: uuid.UUID) -> str:
    return base64.b64encode(f"PaymentOrder:{order_id}".encode()).decode()


async def order_of(demo: Demo, agency_id: uuid.UUID, code: str) -> uuid.UUID:
    async with demo.factory() as session, session.begin():
        order, _ = await create_order(session, agency_id, NewOrder(code, 3_000, "国民年金保険料", TODAY,
                                                                   f"R-{uuid.uuid4().hex[:8]}"),
                                      idempotency_key=str(uuid.uuid4()), today=TODAY, now=NOW)
    return order.id


def slip_notice(code: str, reference: str) -> NewNotice:
    return NewNotice(audience=Audience.PERSON, category=Category.PENSION, title="納付のお願い", body="納付書です。",
                     recipient_code=code, attachments=(AttachmentSpec("payment-slip", reference, "納付書"),))


async def refusal(demo: Demo, reference: str) -> tuple[str, str]:
    code = await demo.code(demo.pension, demo.mother)
    with pytest.raises(PortalError) as refused:
        async with demo.factory() as session, session.begin():
            await publish_notice(session, demo.pension.id, slip_notice(code, reference), now=NOW, today=TODAY)
    return refused.value.code, refused.value.message


async def test_a_notice_carries_its_own_agencys_order(demo: Demo) -> None:
    order_id = await order_of(demo, demo.pension.id, await demo.code(demo.pension, demo.mother))
    code = await demo.code(demo.pension, demo.mother)
    async with demo.factory() as session, session.begin():
        published = await publish_notice(session, demo.pension.id, slip_notice(code, global_id(order_id)),
                                         now=NOW, today=TODAY)
    async with demo.factory() as session:
        attachment = await session.scalar(select(NoticeAttachment))
    assert attachment is not None and (attachment.notice_id, attachment.reference) == (
        published.notice.id, global_id(order_id))


async def test_another_agencys_order_is_refused_as_if_it_did_not_exist(demo: Demo) -> None:
    city_order = await order_of(demo, demo.city.id, await demo.code(demo.city, demo.mother))
    assert await refusal(demo, global_id(city_order)) == REFUSED
    assert await refusal(demo, global_id(uuid.uuid4())) == REFUSED  # the same answer: nothing revealed
    assert await refusal(demo, "slip-1") == REFUSED
    async with demo.factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 0
        assert await session.scalar(select(func.count()).select_from(NoticeAttachment)) == 0


def test_only_a_payment_order_global_id_names_an_order() -> None:
    order_id = uuid.uuid4()
    assert payment_order_id(global_id(order_id)) == order_id
    assert payment_order_id(base64.b64encode(f"Notice:{order_id}".encode()).decode()) is None
    assert payment_order_id(str(order_id)) is None
    assert payment_order_id(base64.b64encode(b"\xff\xfe").decode()) is None
