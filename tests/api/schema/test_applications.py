"""The applications GraphQL: the municipality's inbox for staff tools, with the municipality's key or a staff member's
own token (reader reads, decider moves); and the applicant's 取下げ."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api.applications.models import Application
from api.applications.staff import create_staff, disable_staff
from tests.api.applications.conftest import OneStop, one_stop  # noqa: F401
from tests.api.conftest import operation
from tests.api.identity.conftest import ca_dir, identity, sandbox_ca  # noqa: F401

INBOX = operation("InboxApplications")
ONE = operation("InboxApplication")
MOVE = operation("MoveApplication")
WITHDRAW = operation("WithdrawApplication")


async def sent(one_stop: OneStop) -> Application:  # noqa: F811
    draft = await one_stop.ready_draft()
    return await one_stop.submit(one_stop.father, draft.id, await one_stop.signed(
        await one_stop.card(one_stop.father), one_stop.father, draft.id))


def codes(result: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in result.get("errors", [])]


async def test_staff_tokens_read_and_move_by_their_role(one_stop: OneStop) -> None:  # noqa: F811
    number = (await sent(one_stop)).reception_number
    portal = one_stop.identity.portal
    async with one_stop.factory() as session, session.begin():
        _, reader = await create_staff(session, one_stop.chiyoda_id, "佐藤", "reader")
        _, decider = await create_staff(session, one_stop.chiyoda_id, "鈴木", "decider")
        gone, former = await create_staff(session, one_stop.chiyoda_id, "高橋", "decider")
        await disable_staff(session, gone.id)
    page = await portal.query(INBOX, {"status": "received"}, token=reader)
    assert [a["receptionNumber"] for a in page["data"]["inboxApplications"]["applications"]] == [number]
    one = await portal.query(ONE, {"receptionNumber": number}, token=reader)
    assert [h["to"] for h in one["data"]["inboxApplication"]["history"]] == ["draft", "received"]
    refused = await portal.query(MOVE, {"receptionNumber": number, "status": "reviewing", "idempotencyKey": "k-1"},
                                 token=reader)
    assert codes(refused) == ["FORBIDDEN"]
    for token in (former, "mps_nothing"):
        assert codes(await portal.query(INBOX, {}, token=token)) == ["UNAUTHENTICATED"]
        assert codes(await portal.query(MOVE, {"receptionNumber": number, "status": "reviewing",
                                               "idempotencyKey": "k-2"}, token=token)) == ["UNAUTHENTICATED"]
    async with one_stop.factory() as session:
        assert await session.scalar(select(Application.status).where(Application.reception_number == number)) \
            == "received"
    moved = await portal.query(MOVE, {"receptionNumber": number, "status": "reviewing", "idempotencyKey": "k-1"},
                               token=decider)
    assert moved["data"]["moveApplication"] == {"receptionNumber": number, "status": "reviewing",
                                                "previous": "received", "at": moved["data"]["moveApplication"]["at"]}
    fetched = await portal.query(ONE, {"receptionNumber": number}, token=reader)
    history = fetched["data"]["inboxApplication"]["history"]
    assert (history[-1]["to"], history[-1]["actor"]) == ("reviewing", "千代田区 職員 鈴木")


async def test_a_persons_session_is_no_inbox_credential(one_stop: OneStop) -> None:  # noqa: F811
    await sent(one_stop)
    portal = one_stop.identity.portal
    assert codes(await portal.query(INBOX, {}, token=portal.father_token)) == ["FORBIDDEN"]


async def test_the_applicant_withdraws_and_a_decided_one_is_refused(one_stop: OneStop) -> None:  # noqa: F811
    application = await sent(one_stop)
    portal = one_stop.identity.portal
    done = await portal.query(WITHDRAW, {"id": str(application.id), "reason": "転出のため"}, token=portal.father_token)
    assert done["data"]["withdrawApplication"]["status"] == "withdrawn"
    again = await portal.query(WITHDRAW, {"id": str(application.id)}, token=portal.father_token)
    assert codes(again) == ["APPLICATION_WITHDRAWN"]
    other = await sent(one_stop)
    async with one_stop.factory() as session, session.begin():
        row = await session.get_one(Application, other.id)
        row.status = "rejected"
    assert codes(await portal.query(WITHDRAW, {"id": str(other.id)}, token=portal.father_token)) == [
        "APPLICATION_ALREADY_DECIDED"]
