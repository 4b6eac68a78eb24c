"""The municipality's inbox over REST: list, fetch with the signature material, move with notices and the
applicant's record, idempotency keys, staff roles, and the public catalogue."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from api.applications import drafts
from api.applications.attachments import add_attachment
from api.applications.staff import create_staff
from api.notices.models import Notice, NoticeRecipient
from api.platform.access_records import AccessRecord
from tests.api.applications.conftest import OneStop

PDF = b"%PDF-1.7\n" + b"x" * 300_000  # two chunks


async def sent(one_stop: OneStop) -> str:
    draft = await one_stop.ready_draft()
    await add_attachment(one_stop.factory, one_stop.father, draft.id, "bank_account_proof", "通帳.pdf",
                         "application/pdf", PDF)
    card = await one_stop.card(one_stop.father)
    application = await one_stop.submit(one_stop.father, draft.id,
                                        await one_stop.signed(card, one_stop.father, draft.id))
    assert application.reception_number is not None
    return application.reception_number


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **extra}


async def titles(one_stop: OneStop) -> list[str]:
    async with one_stop.factory() as session:
        return list(await session.scalars(
            select(Notice.title).join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
            .where(NoticeRecipient.person_id == one_stop.father).order_by(Notice.created_at, Notice.title)))


async def test_the_municipality_lists_fetches_and_decides_and_the_parent_hears_of_each_move(
        one_stop: OneStop) -> None:
    number = await sent(one_stop)
    client = one_stop.identity.portal.client
    listing = (await client.get("/applications/inbox", params={"status": "received"},
                                headers=auth(one_stop.inbox_key))).json()
    [row] = listing["applications"]
    assert (row["receptionNumber"], row["procedure"], row["status"], row["basis"], listing["hasNextPage"]) == (
        number, "child_allowance_claim", "received", "parent", False)
    assert len(row["applicantCode"]) == 32 and row["applicantCode"] != row["subjectCode"]

    got = (await client.get(f"/applications/inbox/{number}", headers=auth(one_stop.inbox_key))).json()
    assert "income" not in got["form"] and got["prefill"]["claimant"] == {"source": "basic4"}
    assert base64.b64decode(got["signature"]["document"]).startswith(b'{"applicant":')
    [attachment] = got["attachments"]
    assert (attachment["requirement"], attachment["mediaType"], attachment["size"]) == (
        "bank_account_proof", "application/pdf", len(PDF))
    download = await client.get(attachment["href"], headers=auth(one_stop.inbox_key))
    assert (download.status_code, download.content, download.headers["content-type"]) == (200, PDF,
                                                                                          "application/pdf")

    moves = [("reviewing", None), ("correction_requested", "勤務先を記入してください")]
    for index, (status, note) in enumerate(moves):
        response = await client.post(f"/applications/inbox/{number}/moves", json={"status": status, "note": note},
                                     headers=auth(one_stop.inbox_key, **{"idempotency-key": f"move-{index}"}))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    # A retry with the same key answers the same and moves nothing; another body with it is refused.
    again = await client.post(f"/applications/inbox/{number}/moves",
                              json={"status": "correction_requested", "note": "勤務先を記入してください"},
                              headers=auth(one_stop.inbox_key, **{"idempotency-key": "move-1"}))
    assert again.json() == response.json()
    reused = await client.post(f"/applications/inbox/{number}/moves", json={"status": "rejected"},
                               headers=auth(one_stop.inbox_key, **{"idempotency-key": "move-1"}))
    assert (reused.status_code, reused.json()["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert reused.headers["content-type"] == "application/problem+json"
    assert await titles(one_stop) == [f"{title}（児童手当 認定請求）" for title in (
        "申請を受け付けました", "申請の審査を始めました", "申請の補正をお願いします")]

    # The parent corrects and signs again (a new nonce), and the municipality completes it.
    async with one_stop.factory() as session:
        from api.applications.models import Application
        application = await session.scalar(select(Application).where(Application.reception_number == number))
    assert application is not None and application.status == "correction_requested"
    card = await one_stop.card(one_stop.father)
    resent = await one_stop.submit(one_stop.father, application.id,
                                   await one_stop.signed(card, one_stop.father, application.id))
    assert (resent.status, resent.reception_number) == ("received", number)
    for index, status in enumerate(("reviewing", "completed")):
        response = await client.post(f"/applications/inbox/{number}/moves", json={"status": status},
                                     headers=auth(one_stop.inbox_key, **{"idempotency-key": f"later-{index}"}))
        assert response.status_code == 200
    decided = await client.post(f"/applications/inbox/{number}/moves", json={"status": "rejected"},
                                headers=auth(one_stop.inbox_key, **{"idempotency-key": "after"}))
    assert (decided.status_code, decided.json()["code"]) == (409, "APPLICATION_ALREADY_DECIDED")
    history = (await client.get(f"/applications/inbox/{number}", headers=auth(one_stop.inbox_key))).json()["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "draft"), ("draft", "received"), ("received", "reviewing"), ("reviewing", "correction_requested"),
        ("correction_requested", "received"), ("received", "reviewing"), ("reviewing", "completed")]
    assert history[3]["actor"] == "千代田区 申請管理システム" and history[3]["note"] == "勤務先を記入してください"
    # Every read and move by the municipality is on the father's record.
    async with one_stop.factory() as session:
        purposes = list(await session.scalars(select(AccessRecord.purpose).where(
            AccessRecord.subject_person_id == one_stop.father).order_by(AccessRecord.accessed_at, AccessRecord.id)))
    assert purposes == [f"application:read:{number}", f"application:attachment:{number}",
                        f"application:reviewing:{number}", f"application:correction_requested:{number}",
                        f"application:reviewing:{number}", f"application:completed:{number}",
                        f"application:read:{number}"]


async def test_staff_roles_and_other_municipalities(one_stop: OneStop) -> None:
    number = await sent(one_stop)
    client = one_stop.identity.portal.client
    async with one_stop.factory() as session, session.begin():
        _, reader = await create_staff(session, one_stop.chiyoda_id, "佐藤", "reader")
        _, decider = await create_staff(session, one_stop.chiyoda_id, "鈴木", "decider")
    assert (await client.get(f"/applications/inbox/{number}", headers=auth(reader))).status_code == 200
    refused = await client.post(f"/applications/inbox/{number}/moves", json={"status": "reviewing"},
                                headers=auth(reader, **{"idempotency-key": "k"}))
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    moved = await client.post(f"/applications/inbox/{number}/moves", json={"status": "reviewing"},
                              headers=auth(decider, **{"idempotency-key": "k"}))
    assert moved.status_code == 200
    history = (await client.get(f"/applications/inbox/{number}", headers=auth(reader))).json()["history"]
    assert history[-1]["actor"] == "千代田区 職員 鈴木"
    bad = await client.get("/applications/inbox", headers=auth("mps_nothing"))
    assert (bad.status_code, bad.json()["code"]) == (401, "UNAUTHENTICATED")
    invalid = await client.post(f"/applications/inbox/{number}/moves", json={"status": "completed"},
                                headers=auth(decider))
    assert invalid.json()["code"] == "IDEMPOTENCY_KEY_INVALID"
    skip = await client.post(f"/applications/inbox/{number}/moves", json={"status": "received"},
                             headers=auth(decider, **{"idempotency-key": "k2"}))
    assert (skip.status_code, skip.json()["code"]) == (409, "APPLICATION_TRANSITION_INVALID")
    # Yokohama's key sees nothing of Chiyoda's.
    from api.agencies.credentials import APPLICATIONS_INBOX, agency_by_slug, issue_agency_key
    async with one_stop.factory() as session, session.begin():
        yokohama = await agency_by_slug(session, "yokohama-city")
        assert yokohama is not None
        key = await issue_agency_key(session, yokohama.id, label="t", scopes=frozenset({APPLICATIONS_INBOX}))
    assert (await client.get("/applications/inbox", headers=auth(key))).json()["applications"] == []
    other = await client.get(f"/applications/inbox/{number}", headers=auth(key))
    assert (other.status_code, other.json()["code"]) == (404, "NOT_FOUND")


async def test_the_catalogue_searches_by_kana_category_life_event_and_municipality(one_stop: OneStop) -> None:
    client = one_stop.identity.portal.client

    async def codes(**params: str) -> list[str]:
        return [p["code"] for p in (await client.get("/applications/catalogue", params=params)).json()["procedures"]]

    assert await codes(keyword="ほいく") == ["day_care_application"]
    assert await codes(keyword="じどうてあて") == ["child_allowance_claim", "child_allowance_status"]
    assert await codes(keyword="ｼﾞﾄﾞｳﾃｱﾃ ｹﾞﾝｷｮｳ") == ["child_allowance_status"]
    assert await codes(category="single_parent") == ["child_rearing_allowance_claim"]
    assert await codes(lifeEvent="birth") == ["child_allowance_claim", "day_care_application",
                                              "pregnancy_notification", "131016_parenting_consultation"]
    assert await codes(municipality="141003") == []
    bad = await client.get("/applications/catalogue", params={"category": "nope"})
    assert (bad.status_code, bad.json()["code"]) == (400, "BAD_USER_INPUT")
    found = await client.get("/applications/catalogue", params={"keyword": "認定請求 児童手当"})
    [claim] = found.json()["procedures"]
    assert claim["obtainedThroughNetwork"] == [{"item": "local_tax", "replaces": "所得（課税）証明書"}]
    assert (claim["signatureRequired"], claim["municipalities"]) == (True, ["131016"])


async def test_drafts_are_listed_for_the_applicant_only(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    assert [a.id for a in await drafts.my_applications(one_stop.factory, one_stop.father)] == [draft.id]
    assert await drafts.my_applications(one_stop.factory, one_stop.mother) == []
    async with one_stop.factory() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 0
