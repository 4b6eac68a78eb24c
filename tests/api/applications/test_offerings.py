"""What a municipality takes online: its system publishes and withdraws national procedures and its own (独自の手続),
over REST with the applications:publish scope; another municipality's own procedure is refused."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from api.agencies.credentials import APPLICATIONS_INBOX, APPLICATIONS_PUBLISH, agency_by_slug, issue_agency_key
from api.applications import drafts, offerings
from api.applications.models import Application, ProcedureOffering
from api.platform.errors import PortalError
from tests.api.applications.conftest import TODAY, OneStop

OWN = "131016_parenting_consultation"


async def _key(one_stop: OneStop, slug: str, *scopes: str) -> str:
    async with one_stop.factory() as session, session.begin():
        agency = await agency_by_slug(session, slug)
        assert agency is not None
        return await issue_agency_key(session, agency.id, label="手続管理", scopes=frozenset(scopes))


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_the_municipality_publishes_withdraws_and_republishes(one_stop: OneStop) -> None:
    client = one_stop.identity.portal.client
    headers = _auth(await _key(one_stop, "chiyoda-city", APPLICATIONS_PUBLISH))
    listed = (await client.get("/applications/offerings", headers=headers)).json()["offerings"]
    assert [(o["procedure"], o["withdrawnAt"]) for o in listed] == [
        (OWN, None), ("child_allowance_claim", None), ("child_allowance_status", None),
        ("child_rearing_allowance_claim", None), ("day_care_application", None), ("pregnancy_notification", None)]

    changed = await client.put("/applications/offerings/day_care_application", headers=headers,
                               json={"feeYen": 0, "note": "4月入所の一次募集は11月まで", "signatureRequired": True})
    assert changed.status_code == 200
    body = changed.json()
    assert {k: body[k] for k in ("procedure", "formVersion", "signatureRequired", "feeYen", "note", "withdrawnAt")} \
        == {"procedure": "day_care_application", "formVersion": 1, "signatureRequired": True, "feeYen": 0,
            "note": "4月入所の一次募集は11月まで", "withdrawnAt": None}

    withdrawn = await client.delete(f"/applications/offerings/{OWN}", headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawnAt"] is not None
    catalogue = (await client.get("/applications/catalogue", params={"municipality": "131016"})).json()
    assert OWN not in [p["code"] for p in catalogue["procedures"]]
    try:
        await drafts.start_draft(one_stop.factory, one_stop.father, OWN, one_stop.child, today=TODAY)
        raise AssertionError("a withdrawn procedure took a draft")
    except PortalError as error:
        assert error.code == "PROCEDURE_NOT_OFFERED"
    again = await client.delete(f"/applications/offerings/{OWN}", headers=headers)
    assert (again.status_code, again.json()["code"]) == (404, "PROCEDURE_NOT_OFFERED")

    back = await client.put(f"/applications/offerings/{OWN}", headers=headers, json={})
    assert (back.status_code, back.json()["withdrawnAt"], back.json()["signatureRequired"]) == (200, None, False)
    draft = await drafts.start_draft(one_stop.factory, one_stop.father, OWN, one_stop.child, today=TODAY)
    assert (draft.procedure_code, draft.form["child"]["name"]) == (OWN, "山田 一郎")
    [own] = [p for p in (await client.get("/applications/catalogue", params={"keyword": "そうだん"})).json()
             ["procedures"]]
    assert (own["code"], own["ownedBy"], own["municipalities"]) == (OWN, "131016", ["131016"])


async def test_what_a_municipality_may_not_publish(one_stop: OneStop) -> None:
    client = one_stop.identity.portal.client
    yokohama = _auth(await _key(one_stop, "yokohama-city", APPLICATIONS_PUBLISH))
    chiyoda = _auth(await _key(one_stop, "chiyoda-city", APPLICATIONS_PUBLISH))
    async with one_stop.factory() as session:
        before = await session.scalar(select(func.count()).select_from(ProcedureOffering))

    async def refused(path: str, headers: dict[str, str], body: object, method: str = "PUT") -> tuple[int, str]:
        answer = await client.request(method, path, headers=headers, json=body)
        return answer.status_code, answer.json()["code"]

    assert await refused(f"/applications/offerings/{OWN}", yokohama, {}) == (403, "PROCEDURE_NOT_OWNED")
    assert await refused("/applications/offerings/child_allowance_claim", chiyoda,
                         {"signatureRequired": False}) == (400, "BAD_USER_INPUT")
    assert await refused("/applications/offerings/child_allowance_claim", chiyoda, {"feeYen": -1}) == (
        400, "BAD_USER_INPUT")
    assert await refused("/applications/offerings/child_allowance_claim", chiyoda, {"feeYen": True}) == (
        400, "BAD_USER_INPUT")
    assert await refused("/applications/offerings/child_allowance_claim", chiyoda, {"note": "x" * 501}) == (
        400, "BAD_USER_INPUT")
    assert await refused("/applications/offerings/no_such_procedure", chiyoda, {}) == (404, "PROCEDURE_UNKNOWN")
    # The inbox's key and a staff member cannot choose what the municipality publishes.
    assert await refused("/applications/offerings/child_allowance_claim", _auth(one_stop.inbox_key), {}) == (
        403, "FORBIDDEN")
    assert await refused("/applications/offerings", _auth(await _key(one_stop, "chiyoda-city", APPLICATIONS_INBOX)),
                         None, "GET") == (403, "FORBIDDEN")
    assert await refused("/applications/offerings", {}, None, "GET") == (401, "UNAUTHENTICATED")
    async with one_stop.factory() as session:
        assert await session.scalar(select(func.count()).select_from(ProcedureOffering)) == before
        assert await session.scalar(select(func.count()).select_from(ProcedureOffering).where(
            ProcedureOffering.municipality_code == "141003")) == 0
        assert await session.scalar(select(func.count()).select_from(Application)) == 0


async def test_a_process_forgets_its_copy_of_the_offerings_when_asked(one_stop: OneStop) -> None:
    async with one_stop.factory() as session:
        before = await offerings.offered(session, "131016")
        assert OWN in [o.procedure.code for o in before]
    # Rows removed behind the process's back (as the tests' table emptying does): the copy still answers ...
    async with one_stop.factory() as session, session.begin():
        await session.execute(delete(ProcedureOffering))
    async with one_stop.factory() as session:
        assert await offerings.offered(session, "131016") == before
        offerings.forget_offered()  # ... until forgotten: then the database answers
        assert await offerings.offered(session, "131016") == []
