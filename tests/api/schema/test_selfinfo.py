"""自己情報表示 through GraphQL and the agencies' REST API: grouped items with provenance, each read on the record,
the export, and a correction request answered by the agency, reaching the person as a notice."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import GlobalID

from api.agencies.credentials import CORRECTIONS_ANSWER, NOTICES_PUBLISH, agency_by_slug
from api.demo import DEMO_TAX
from api.exchange.copies import CopyEntry, register_copies
from api.exchange.models import ExchangeRecord
from api.identity.tokens import issue_token
from api.platform.db import create_session_factory
from api.proxies.service import grant_proxy
from tests.api.conftest import Portal, operation
from tests.api.schema.test_notices import agency_key, person_code

LOCAL_TAX = DEMO_TAX[0]  # the demo's copies: Yokohama's 住民税 of the father, Chiyoda's 住民票
PENSION = {"kind": "老齢基礎年金", "annual_amount": 816_000}


async def register(engine: AsyncEngine, person: uuid.UUID) -> dict[str, uuid.UUID]:
    factory = create_session_factory(engine)
    agencies = {}
    for slug, kind, value in (("japan-pension-service", "pension_benefit", PENSION),):
        code = await person_code(engine, slug, person)
        async with factory() as session:
            agency = await agency_by_slug(session, slug)
            assert agency is not None
            agencies[slug] = agency.id
        await register_copies(factory, agency.id, [CopyEntry(code, kind, value)])
    return agencies


async def records_of(engine: AsyncEngine, person: uuid.UUID) -> list[tuple[str, list[str], str]]:
    async with create_session_factory(engine)() as session:
        rows = await session.scalars(select(ExchangeRecord).where(ExchangeRecord.person_id == person)
                                     .order_by(ExchangeRecord.requested_at, ExchangeRecord.duty))
        return sorted((row.duty, list(row.item_names), row.outcome) for row in rows)


def items(groups: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {group["group"]: group["items"] for group in groups}


async def test_the_person_sees_what_is_held_grouped_with_provenance_and_the_read_is_recorded(
        portal: Portal, engine: AsyncEngine) -> None:
    await register(engine, portal.father)
    result = await portal.query(operation("SelfInfo"), {}, token=portal.father_token)
    groups = result["data"]["selfInfo"]
    assert [g["title"] for g in groups] == ["税・所得", "年金", "子ども・子育て", "健康・医療", "世帯", "その他"]
    held = items(groups)
    [tax] = held["TAX_INCOME"]
    assert (tax["kindName"], tax["key"], json.loads(tax["value"]), tax["source"]["name"]) == (
        "地方税関係情報", "2025", LOCAL_TAX, "横浜市")
    assert tax["lastUpdated"] and any(basis["row"].startswith("beppyo2:") for basis in tax["legalBasis"])
    [pension] = held["PENSION"]
    assert (pension["source"]["name"], json.loads(pension["value"])) == ("日本年金機構", PENSION)
    [household] = held["HOUSEHOLD"]
    assert (household["kind"], household["source"]["name"]) == ("resident_record", "千代田区")
    assert held["CHILD_REARING"] == held["HEALTH"] == held["OTHER"] == []
    # The read is on his record: the portal read each agency's items.
    assert await records_of(engine, portal.father) == [("自己情報表示", ["local_tax"], "provided"),
                                                       ("自己情報表示", ["pension_benefit"], "provided"),
                                                       ("自己情報表示", ["resident_record"], "provided")]
    history = await portal.query(operation("RecordHistory"), {"first": 5}, token=portal.father_token)
    assert {(e["node"]["requester"]["name"], e["node"]["provider"]["name"])
            for e in history["data"]["recordHistory"]["edges"]} == {("デジタル庁", "千代田区"),
                                                                   ("デジタル庁", "日本年金機構"),
                                                                   ("デジタル庁", "横浜市")}


async def test_a_proxy_needs_records_read_and_a_parent_sees_a_minor_child(portal: Portal,
                                                                         engine: AsyncEngine) -> None:
    async with create_session_factory(engine)() as session, session.begin():
        mother = await issue_token(session, portal.mother, ttl=timedelta(minutes=5))
    father_id = str(GlobalID("Person", str(portal.father)))
    refused = await portal.query(operation("SelfInfo"), {"personId": father_id}, token=mother)
    assert refused["errors"][0]["extensions"]["code"] == "NOT_AUTHORIZED_FOR_PERSON"
    assert await records_of(engine, portal.father) == []
    async with create_session_factory(engine)() as session, session.begin():
        await grant_proxy(session, principal_id=portal.father, proxy_id=portal.mother, scopes=["records:read"],
                          valid_until=date.today() + timedelta(days=2), today=date.today())
    allowed = await portal.query(operation("SelfInfo"), {"personId": father_id}, token=mother)
    assert len(allowed["data"]["selfInfo"]) == 6
    child = await portal.query(operation("SelfInfo"), {"personId": str(GlobalID("Person", str(portal.child)))},
                               token=portal.father_token)
    assert "errors" not in child


async def test_export_lists_and_serves_one_json_document(portal: Portal, engine: AsyncEngine) -> None:
    await register(engine, portal.father)
    made = (await portal.query(operation("SelfInfoExportCreate"), {}, token=portal.father_token))["data"][
        "selfInfoExport"]
    listed = (await portal.query(operation("SelfInfoExports"), {}, token=portal.father_token))["data"][
        "selfInfoExports"]
    assert [(e["id"], e["size"], e["sha256"]) for e in listed] == [(made["id"], made["size"], made["sha256"])]
    document = json.loads(listed[0]["document"])
    assert document["format"] == "mynaportal-selfinfo-export/1"
    assert [item["kind"] for group in document["information"] for item in group["items"]] == [
        "local_tax", "pension_benefit", "resident_record"]
    assert document["information"][0]["items"][0]["source"] == "横浜市"
    assert {entry["duty"] for entry in document["record"]} == {"自己情報の書き出し"}
    assert len(listed[0]["document"].encode()) == made["size"]
    # Another adult cannot read it (the same answer as for an id that does not exist).
    async with create_session_factory(engine)() as session, session.begin():
        mother = await issue_token(session, portal.mother, ttl=timedelta(minutes=5))
    other = await portal.query(operation("SelfInfoExports"), {"personId": str(GlobalID("Person", str(portal.father)))},
                               token=mother)
    assert other["errors"][0]["extensions"]["code"] == "NOT_AUTHORIZED_FOR_PERSON"


async def test_a_correction_request_reaches_the_agency_and_its_answer_the_person(
        portal: Portal, engine: AsyncEngine) -> None:
    await register(engine, portal.father)
    groups = (await portal.query(operation("SelfInfo"), {}, token=portal.father_token))["data"]["selfInfo"]
    [tax] = items(groups)["TAX_INCOME"]
    asked = (await portal.query(operation("RequestCorrection"), {"input": {
        "itemId": tax["id"], "message": "扶養親族は3人です"}}, token=portal.father_token))["data"]["requestCorrection"]
    assert (asked["itemName"], asked["status"], asked["provider"]["name"]) == ("local_tax/2025", "OPEN", "横浜市")
    unknown = await portal.query(operation("RequestCorrection"), {"input": {
        "itemId": str(uuid.uuid4()), "message": "x"}}, token=portal.father_token)
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    pension_key = await agency_key(engine, "japan-pension-service", frozenset({CORRECTIONS_ANSWER}))
    assert (await portal.client.get("/selfinfo/v1/corrections",
                                    headers={"authorization": f"Bearer {pension_key}"})).json() == {
        "items": [], "next_cursor": None}
    no_scope = await agency_key(engine, "yokohama-city", frozenset({NOTICES_PUBLISH}))
    forbidden = await portal.client.get("/selfinfo/v1/corrections", headers={"authorization": f"Bearer {no_scope}"})
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "FORBIDDEN")
    city_key = await agency_key(engine, "yokohama-city", frozenset({CORRECTIONS_ANSWER}))
    headers = {"authorization": f"Bearer {city_key}"}
    queue = (await portal.client.get("/selfinfo/v1/corrections", headers=headers)).json()
    [queued] = queue["items"]
    assert (queued["id"], queued["person_code"], queued["message"]) == (
        asked["id"], await person_code(engine, "yokohama-city", portal.father), "扶養親族は3人です")

    answered = await portal.client.post(f"/selfinfo/v1/corrections/{asked['id']}/answer", headers=headers,
                                        json={"outcome": "corrected", "message": "扶養親族を3人に訂正しました"})
    assert (answered.status_code, answered.json()["status"]) == (200, "corrected")
    again = await portal.client.post(f"/selfinfo/v1/corrections/{asked['id']}/answer", headers=headers,
                                     json={"outcome": "rejected", "message": "x"})
    assert (again.status_code, again.json()["code"]) == (409, "CORRECTION_ALREADY_ANSWERED")
    elsewhere = await portal.client.post(f"/selfinfo/v1/corrections/{asked['id']}/answer",
                                         headers={"authorization": f"Bearer {pension_key}"},
                                         json={"outcome": "rejected", "message": "x"})
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "NOT_FOUND")

    notices = (await portal.query(operation("Notices"), {"first": 5}, token=portal.father_token))["data"]["notices"]
    assert [(e["node"]["title"], e["node"]["body"], e["node"]["agency"]["name"]) for e in notices["edges"]] == [
        ("訂正請求への回答: 訂正しました", "扶養親族を3人に訂正しました", "横浜市")]
    listed = (await portal.query(operation("CorrectionRequests"), {}, token=portal.father_token))["data"][
        "correctionRequests"]
    assert [(r["status"], r["answer"]) for r in listed] == [("CORRECTED", "扶養親族を3人に訂正しました")]
    assert [row for row in await records_of(engine, portal.father) if row[0].startswith("訂正")] == [
        ("訂正請求", ["local_tax"], "requested"), ("訂正請求への回答", ["local_tax"], "corrected")]
