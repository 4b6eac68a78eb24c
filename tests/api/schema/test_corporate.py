from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from corporate.application_ids import hash_key
from corporate.importer import import_files
from corporate.models import ApplicationId
from tests.api.conftest import Portal, operation
from tests.corporate.conftest import row, write_csv

NUMBER = "1000012160145"


async def _load(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_files(engine, [write_csv(tmp_path / "c.csv", [
        row(1, NUMBER, "旧青森物産株式会社", update="2016-01-05"),
        row(2, NUMBER, "青森物産株式会社", process="11", update="2016-02-01", furigana="アオモリブッサン"),
        row(3, "1000013050378", "株式会社青森", update="2016-01-06"),
    ])])


async def test_lookup_returns_the_latest_state_and_the_history(portal: Portal, engine: AsyncEngine,
                                                                tmp_path: Path) -> None:
    await _load(engine, tmp_path)
    answer = await portal.query(operation("CorporationLookup"), {"number": "１-００００-１２１６-０１４５"})
    assert "errors" not in answer
    corporation = answer["data"]["corporation"]
    assert corporation["corporateNumber"] == NUMBER
    assert corporation["latest"]["name"] == "青森物産株式会社"
    assert corporation["latest"]["furigana"] == "アオモリブッサン"
    assert [(state["name"], state["processName"], state["latest"]) for state in corporation["history"]] == [
        ("旧青森物産株式会社", "新規", False), ("青森物産株式会社", "商号又は名称の変更", True)]


async def test_lookup_refuses_a_bad_check_digit_and_answers_null_for_an_unknown_number(portal: Portal) -> None:
    bad = await portal.query(operation("CorporationLookup"), {"number": "2000012160145"})
    assert bad["data"] is None or bad["data"]["corporation"] is None
    assert [error["extensions"]["code"] for error in bad["errors"]] == ["BAD_USER_INPUT"]
    missing = await portal.query(operation("CorporationLookup"), {"number": "7000012050002"})
    assert missing == {"data": {"corporation": None}}


async def test_search_pages_with_cursors_in_rank_order(portal: Portal, engine: AsyncEngine, tmp_path: Path) -> None:
    await _load(engine, tmp_path)
    first = await portal.query(operation("CorporationSearch"), {"query": "青森", "match": "PARTIAL", "first": 1})
    connection = first["data"]["corporations"]
    assert [edge["node"]["corporateNumber"] for edge in connection["edges"]] == ["1000013050378"]
    assert connection["pageInfo"]["hasNextPage"] is True
    second = await portal.query(operation("CorporationSearch"), {
        "query": "青森", "match": "PARTIAL", "first": 1, "after": connection["pageInfo"]["endCursor"]})
    assert [edge["node"]["corporateNumber"] for edge in second["data"]["corporations"]["edges"]] == [NUMBER]
    assert second["data"]["corporations"]["pageInfo"]["hasNextPage"] is False
    past = await portal.query(operation("CorporationSearch"), {"query": "旧青森", "filter": {"includePastNames": True}})
    assert [edge["node"]["latest"]["name"] for edge in past["data"]["corporations"]["edges"]] == ["青森物産株式会社"]


async def test_application_id_needs_a_signed_in_person_and_is_stored_hashed(portal: Portal,
                                                                           engine: AsyncEngine) -> None:
    anonymous = await portal.query(operation("CorporationApplicationIdCreate"), {"label": "株式会社テスト"})
    assert [error["extensions"]["code"] for error in anonymous["errors"]] == ["UNAUTHENTICATED"]
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(ApplicationId)) == 0
    issued = await portal.query(operation("CorporationApplicationIdCreate"), {"label": "株式会社テスト"},
                                token=portal.father_token)
    key = issued["data"]["corporateApplicationIdCreate"]["applicationId"]
    assert len(key) == 13 and key.isalnum()
    async with engine.connect() as connection:
        stored = (await connection.execute(select(ApplicationId.key_hash, ApplicationId.person_id))).one()
    assert stored == (hash_key(key), portal.father)
    listed = await portal.query(operation("CorporationApplicationIds"), token=portal.father_token)
    assert [(item["hint"], item["label"], item["revoked"]) for item in listed["data"]["corporateApplicationIds"]] == [
        (key[:4], "株式会社テスト", False)]
    answer = await portal.client.get("/corporate/4/num", params={"id": key, "number": NUMBER, "type": "21"})
    assert answer.status_code == 200 and answer.json()["count"] == 0
