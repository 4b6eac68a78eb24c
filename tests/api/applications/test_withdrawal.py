"""取下げ by the applicant: a draft, or an application sent and not yet decided; refused once decided, twice, or by
anyone else; the municipality sees it withdrawn in its inbox and can no longer move it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from api.applications import inbox, submission
from api.applications.models import Application, ApplicationEvent
from api.applications.staff import InboxActor
from api.applications.withdrawal import withdraw
from api.notices.models import Notice, NoticeRecipient
from api.platform.errors import PortalError
from api.platform.pagination import PageRequest
from tests.api.applications.conftest import TODAY, OneStop


async def refused(code: str, awaitable: object) -> None:
    with pytest.raises(PortalError) as caught:
        await awaitable  # type: ignore[misc]
    assert caught.value.code == code


async def count(one_stop: OneStop, model: type, *where: object) -> int:
    async with one_stop.factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def actor(one_stop: OneStop) -> InboxActor:
    return InboxActor(one_stop.chiyoda_id, "131016", "千代田区 職員 試験", True)


async def sent(one_stop: OneStop) -> Application:
    draft = await one_stop.ready_draft()
    return await one_stop.submit(one_stop.father, draft.id, await one_stop.signed(
        await one_stop.card(one_stop.father), one_stop.father, draft.id))


async def test_a_draft_is_withdrawn_quietly_and_can_no_longer_be_saved_or_sent(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    material = await one_stop.signed(await one_stop.card(one_stop.father), one_stop.father, draft.id)
    notices = await count(one_stop, Notice)
    done = await withdraw(one_stop.factory, one_stop.father, draft.id, "  ", today=TODAY)
    assert (done.status, done.reception_number) == ("withdrawn", None)
    assert await count(one_stop, Notice) == notices  # the municipality never saw it: no notice from it
    async with one_stop.factory() as session:
        events = list(await session.scalars(select(ApplicationEvent).where(
            ApplicationEvent.application_id == draft.id).order_by(ApplicationEvent.at, ApplicationEvent.id)))
    assert [(e.from_status, e.to_status, e.actor, e.note) for e in events] == [
        (None, "draft", "person", None), ("draft", "withdrawn", "person", None)]
    await refused("APPLICATION_WITHDRAWN", one_stop.submit(one_stop.father, draft.id, material))
    await refused("APPLICATION_WITHDRAWN", submission.to_sign(one_stop.factory, one_stop.father, draft.id))
    await refused("APPLICATION_WITHDRAWN", withdraw(one_stop.factory, one_stop.father, draft.id, None, today=TODAY))
    page = await inbox.list_inbox(one_stop.factory, actor(one_stop), PageRequest.parse(10, None), "withdrawn")
    assert page.items == []


async def test_a_sent_application_withdrawn_shows_in_the_inbox_and_the_person_gets_the_notice(
        one_stop: OneStop) -> None:
    application = await sent(one_stop)
    await inbox.move(one_stop.factory, actor(one_stop), application.reception_number or "", "reviewing", None,
                     idempotency_key=None)
    done = await withdraw(one_stop.factory, one_stop.father, application.id, "転出のため", today=TODAY)
    assert (done.status, done.reception_number) == ("withdrawn", application.reception_number)
    page = await inbox.list_inbox(one_stop.factory, actor(one_stop), PageRequest.parse(10, None), "withdrawn")
    assert [row.application.reception_number for _, row in page.items] == [application.reception_number]
    found = await inbox.fetch(one_stop.factory, actor(one_stop), application.reception_number or "")
    assert [(e.from_status, e.to_status, e.actor, e.note) for e in found.events][-1] == (
        "reviewing", "withdrawn", "person", "転出のため")
    async with one_stop.factory() as session:
        titles = list(await session.scalars(
            select(Notice.title).join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
            .where(NoticeRecipient.person_id == one_stop.father, Notice.agency_id == one_stop.chiyoda_id)
            .order_by(Notice.created_at)))
    assert titles[-1] == "申請の取下げを受け付けました（児童手当 認定請求）"
    # The municipality can no longer move it, with its own stable code.
    await refused("APPLICATION_WITHDRAWN", inbox.move(one_stop.factory, actor(one_stop),
                                                      application.reception_number or "", "completed", None,
                                                      idempotency_key=None))


async def test_a_decided_application_cannot_be_withdrawn(one_stop: OneStop) -> None:
    application = await sent(one_stop)
    for to_status in ("reviewing", "completed"):
        await inbox.move(one_stop.factory, actor(one_stop), application.reception_number or "", to_status, None,
                         idempotency_key=None)
    events = await count(one_stop, ApplicationEvent, ApplicationEvent.application_id == application.id)
    await refused("APPLICATION_ALREADY_DECIDED", withdraw(one_stop.factory, one_stop.father, application.id, None,
                                                          today=TODAY))
    assert await count(one_stop, ApplicationEvent, ApplicationEvent.application_id == application.id) == events
    assert await count(one_stop, Application, Application.id == application.id,
                       Application.status == "completed") == 1


async def test_only_the_applicant_withdraws_and_the_reason_is_bounded(one_stop: OneStop) -> None:
    application = await sent(one_stop)
    await refused("NOT_FOUND", withdraw(one_stop.factory, one_stop.mother, application.id, None, today=TODAY))
    await refused("BAD_USER_INPUT", withdraw(one_stop.factory, one_stop.father, application.id, "あ" * 501,
                                             today=TODAY))
    assert await count(one_stop, Application, Application.id == application.id,
                       Application.status == "received") == 1


async def test_a_withdrawal_racing_a_decision_leaves_one_of_them(one_stop: OneStop) -> None:
    application = await sent(one_stop)
    await inbox.move(one_stop.factory, actor(one_stop), application.reception_number or "", "reviewing", None,
                     idempotency_key=None)
    outcomes = await asyncio.gather(
        withdraw(one_stop.factory, one_stop.father, application.id, None, today=TODAY),
        inbox.move(one_stop.factory, actor(one_stop), application.reception_number or "", "completed", None,
                   idempotency_key=None), return_exceptions=True)
    errors = sorted(o.code for o in outcomes if isinstance(o, PortalError))
    assert len(errors) == 1 and errors[0] in ("APPLICATION_ALREADY_DECIDED", "APPLICATION_WITHDRAWN")
    async with one_stop.factory() as session:
        status = await session.scalar(select(Application.status).where(Application.id == application.id))
        moves = list(await session.scalars(select(ApplicationEvent.to_status).where(
            ApplicationEvent.application_id == application.id, ApplicationEvent.from_status == "reviewing")))
    assert status == {"APPLICATION_ALREADY_DECIDED": "completed", "APPLICATION_WITHDRAWN": "withdrawn"}[errors[0]]
    assert moves == [status]
