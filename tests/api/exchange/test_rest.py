"""The agencies' REST API of the exchange network: the demo example, refusals on the record, copies, live
providers over HTTP on loopback, and the OpenAPI document covering every route."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.agencies.credentials import EXCHANGE_REQUEST, agency_by_slug, issue_agency_key
from api.agencies.models import AgencyPersonCode
from api.demo import DEMO_TAX
from api.exchange.models import ExchangeCopy, ExchangeRecord
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from tests.api.conftest import Portal, running_portal
from tests.conftest import make_settings
from tests.payments.conftest import free_port, serve_in_loop

SLUGS = ("chiyoda-city", "yokohama-city", "japan-pension-service", "kyokai-kenpo")


@dataclass
class Agencies:
    portal: Portal
    engine: AsyncEngine
    keys: dict[str, str]
    ids: dict[str, uuid.UUID]
    father: dict[str, str]  # slug -> that agency's code for the demo father

    async def ask(self, slug: str, **body: Any) -> Any:
        return await self.portal.client.post("/exchange/requests", json=body, headers=self.auth(slug))

    def auth(self, slug: str, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[slug]}", **extra}

    async def count(self, model: type) -> int:
        async with create_session_factory(self.engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def agencies(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str
                   ) -> AsyncIterator[Agencies]:
    async with running_portal(engine, cipher, make_settings(database_url)) as portal:
        keys, ids, father = {}, {}, {}
        async with create_session_factory(engine)() as session, session.begin():
            for slug in SLUGS:
                agency = await agency_by_slug(session, slug)
                assert agency is not None
                ids[slug] = agency.id
                keys[slug] = await issue_agency_key(session, agency.id, label="test")
                father[slug] = await session.scalar(select(AgencyPersonCode.code).where(
                    AgencyPersonCode.agency_id == agency.id, AgencyPersonCode.person_id == portal.father))
        yield Agencies(portal, engine, keys, ids, father)


async def test_the_demo_example_chiyoda_gets_the_fathers_local_tax_for_child_allowance(agencies: Agencies) -> None:
    response = await agencies.ask("chiyoda-city", personCode=agencies.father["chiyoda-city"], duty="child_allowance",
                                  provider="yokohama-city", items=["local_tax"])
    assert response.status_code == 200
    answer = response.json()
    assert answer["items"] == [{"kind": "local_tax", "name": "地方税関係情報", "key": "2025", "value": DEMO_TAX[0]}]
    assert (answer["provider"], answer["processingType"], answer["notHeld"]) == ("yokohama-city", "copy", [])
    assert answer["legalRow"]["id"] == "beppyo2:74:1" and answer["legalRow"]["row"] == 74
    # No code of the provider's (nor any other agency's) is in the answer.
    assert agencies.father["yokohama-city"] not in response.text
    records = (await agencies.portal.client.get("/exchange/records", headers=agencies.auth("chiyoda-city"))).json()
    [record] = records["records"]
    assert (record["queryId"], record["requester"], record["provider"], record["items"], record["legalRow"],
            record["outcome"]) == (answer["queryId"], "chiyoda-city", "yokohama-city", ["local_tax"],
                                   "beppyo2:74:1", "provided")
    assert "person" not in record and "238000" not in str(record)


async def test_a_request_outside_the_table_is_a_403_problem_and_on_the_record(agencies: Agencies) -> None:
    response = await agencies.ask("chiyoda-city", personCode=agencies.father["chiyoda-city"], duty="child_allowance",
                                  provider="kyokai-kenpo", items=["medical_insurance_benefit"])
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "EXCHANGE_NOT_PERMITTED"
    records = (await agencies.portal.client.get("/exchange/records", headers=agencies.auth("chiyoda-city"))).json()
    [record] = records["records"]
    assert (record["queryId"], record["outcome"], record["refusalCode"], record["provider"], record["legalRow"]) == (
        problem["queryId"], "refused", "EXCHANGE_NOT_PERMITTED", "kyokai-kenpo", None)


async def test_another_agencys_code_is_refused_as_unknown_and_recorded(agencies: Agencies) -> None:
    response = await agencies.ask("chiyoda-city", personCode=agencies.father["yokohama-city"],
                                  duty="child_allowance", provider="yokohama-city", items=["local_tax"])
    assert (response.status_code, response.json()["code"]) == (404, "EXCHANGE_PERSON_UNKNOWN")
    assert await agencies.count(ExchangeRecord) == 1


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, "UNAUTHENTICATED"),
    ({"authorization": "Bearer mpa_not-a-key"}, 401, "UNAUTHENTICATED"),
])
async def test_without_a_valid_key_nothing_is_asked_or_recorded(agencies: Agencies, headers: dict[str, str],
                                                                 status: int, code: str) -> None:
    response = await agencies.portal.client.post("/exchange/requests", headers=headers, json={
        "personCode": agencies.father["chiyoda-city"], "duty": "child_allowance", "provider": "yokohama-city",
        "items": ["local_tax"]})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await agencies.count(ExchangeRecord) == 0


async def test_a_key_without_the_request_scope_is_forbidden_and_nothing_recorded(agencies: Agencies) -> None:
    async with create_session_factory(agencies.engine)() as session, session.begin():
        key = await issue_agency_key(session, agencies.ids["chiyoda-city"], label="copies only",
                                     scopes=frozenset({"exchange:provide"}))
    response = await agencies.portal.client.post("/exchange/requests", headers={"authorization": f"Bearer {key}"},
                                                 json={"personCode": agencies.father["chiyoda-city"],
                                                       "duty": "child_allowance", "provider": "yokohama-city",
                                                       "items": ["local_tax"]})
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
    assert EXCHANGE_REQUEST in response.json()["detail"]
    assert await agencies.count(ExchangeRecord) == 0


@pytest.mark.parametrize("body", [
    {"duty": "child_allowance", "provider": "yokohama-city", "items": ["local_tax"]},
    {"personCode": "x", "duty": "child_allowance", "provider": "yokohama-city", "items": "local_tax"},
    {"personCode": "x", "duty": "child_allowance", "provider": "yokohama-city", "items": []},
    {"personCode": "x", "duty": 7, "provider": "yokohama-city", "items": ["local_tax"]},
    {"personCode": "x", "duty": "child_allowance", "provider": "yokohama-city", "items": ["local_tax"],
     "hiddenUntil": "tomorrow", "hiddenReason": "r"},
])
async def test_a_malformed_request_is_400_and_not_an_exchange(agencies: Agencies, body: dict[str, Any]) -> None:
    response = await agencies.ask("chiyoda-city", **body)
    assert (response.status_code, response.json()["code"]) == (400, "BAD_USER_INPUT")
    assert await agencies.count(ExchangeRecord) == 0


async def _register(agencies: Agencies, copies: list[dict[str, Any]], key: str) -> Any:
    return await agencies.portal.client.post("/exchange/copies", json={"copies": copies},
                                             headers=agencies.auth("japan-pension-service", **{"idempotency-key": key}))


async def test_copies_register_in_bulk_idempotently(agencies: Agencies) -> None:
    before = await agencies.count(ExchangeCopy)
    copy = {"personCode": agencies.father["japan-pension-service"], "itemKind": "pension_benefit",
            "value": {"kind": "障害基礎年金", "annual_amount": 1_020_000}}
    first = await _register(agencies, [copy], "batch-1")
    assert first.status_code == 201
    assert {k: first.json()[k] for k in ("created", "updated", "unchanged", "replayed")} == {
        "created": 1, "updated": 0, "unchanged": 0, "replayed": False}
    replay = await _register(agencies, [copy], "batch-1")
    assert (replay.status_code, replay.json()["replayed"], replay.json()["batchId"]) == (
        200, True, first.json()["batchId"])
    again = await _register(agencies, [copy], "batch-2")  # same content, new key: nothing changes
    assert (again.status_code, again.json()["unchanged"]) == (201, 1)
    changed = dict(copy, value={"kind": "障害基礎年金", "annual_amount": 1_030_000})
    reused = await _register(agencies, [changed], "batch-1")
    assert (reused.status_code, reused.json()["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    updated = await _register(agencies, [changed], "batch-3")
    assert updated.json()["updated"] == 1
    assert await agencies.count(ExchangeCopy) == before + 1


@pytest.mark.parametrize(("copy", "status", "code"), [
    ({"itemKind": "local_tax", "value": {"tax_year": 2025, "taxable_income": -1, "municipal_tax": 0,
                                         "dependants": 0}}, 400, "BAD_USER_INPUT"),
    ({"itemKind": "local_tax", "value": {"tax_year": 2025, "taxable_income": 1, "municipal_tax": 0,
                                         "dependants": 0, "secret": "extra"}}, 400, "BAD_USER_INPUT"),
    ({"itemKind": "pension_benefit", "value": {"kind": "宝くじ", "annual_amount": 1}}, 400, "BAD_USER_INPUT"),
    ({"itemKind": "nonsense", "value": {"a": 1}}, 400, "BAD_USER_INPUT"),
    ({"itemKind": "local_tax", "personCode": "not-ours", "value": {
        "tax_year": 2025, "taxable_income": 1, "municipal_tax": 0, "dependants": 0}}, 404, "EXCHANGE_PERSON_UNKNOWN"),
])
async def test_an_invalid_copy_refuses_the_whole_batch(agencies: Agencies, copy: dict[str, Any], status: int,
                                                       code: str) -> None:
    before = await agencies.count(ExchangeCopy)
    good = {"personCode": agencies.father["japan-pension-service"], "itemKind": "pension_benefit",
            "value": {"kind": "老齢基礎年金", "annual_amount": 800_000}}
    bad = {"personCode": agencies.father["japan-pension-service"], **copy}
    response = await _register(agencies, [good, bad], str(uuid.uuid4()))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await agencies.count(ExchangeCopy) == before


@pytest.fixture
async def live_provider() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A provider's own system on loopback that answers 年金給付関係情報 live and keeps what it was asked."""
    seen: list[dict[str, Any]] = []

    async def answer(request: Request) -> Response:
        body = await request.json()
        seen.append(body)
        if request.path_params["mode"] == "broken":
            return JSONResponse({"items": [{"kind": "pension_benefit", "value": {"kind": "?"}}]})
        return JSONResponse({"items": [{"kind": "pension_benefit",
                                        "value": {"kind": "障害基礎年金", "annual_amount": 1_020_000}}]})

    port = free_port()
    async with serve_in_loop(Starlette(routes=[Route("/{mode}", answer, methods=["POST"])]), port):
        yield f"http://127.0.0.1:{port}", seen


async def test_a_live_provider_is_asked_with_its_own_code_and_the_answer_recorded(
        agencies: Agencies, live_provider: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = live_provider
    put = await agencies.portal.client.put("/exchange/endpoints/pension_benefit", json={"url": f"{url}/ok"},
                                           headers=agencies.auth("japan-pension-service"))
    assert put.status_code == 200
    response = await agencies.ask("chiyoda-city", personCode=agencies.father["chiyoda-city"], duty="child_allowance",
                                  provider="japan-pension-service", items=["pension_benefit"])
    assert response.status_code == 200
    assert (response.json()["processingType"], response.json()["items"][0]["value"]) == (
        "live", {"kind": "障害基礎年金", "annual_amount": 1_020_000})
    [asked] = seen
    # The hub mapped Chiyoda's code to the pension service's own code; Chiyoda's code never left the hub.
    assert asked["personCode"] == agencies.father["japan-pension-service"]
    assert agencies.father["chiyoda-city"] not in str(asked)
    assert (asked["legalRow"], asked["items"], asked["queryId"]) == (
        "beppyo2:75:1", ["pension_benefit"], response.json()["queryId"])


async def test_a_live_provider_answering_wrongly_is_503_and_recorded_as_failed(
        agencies: Agencies, live_provider: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = live_provider
    await agencies.portal.client.put("/exchange/endpoints/pension_benefit", json={"url": f"{url}/broken"},
                                     headers=agencies.auth("japan-pension-service"))
    response = await agencies.ask("chiyoda-city", personCode=agencies.father["chiyoda-city"], duty="child_allowance",
                                  provider="japan-pension-service", items=["pension_benefit"])
    assert (response.status_code, response.json()["code"]) == (503, "EXCHANGE_PROVIDER_UNAVAILABLE")
    records = (await agencies.portal.client.get("/exchange/records", headers=agencies.auth("chiyoda-city"))).json()
    assert [(r["outcome"], r["refusalCode"], r["legalRow"], r["processingType"]) for r in records["records"]] == [
        ("failed", "EXCHANGE_PROVIDER_UNAVAILABLE", "beppyo2:75:1", "live")]


@pytest.mark.parametrize("url", ["http://example.com/x", "ftp://127.0.0.1/x", "not a url"])
async def test_a_live_endpoint_must_be_https_or_loopback(agencies: Agencies, url: str) -> None:
    response = await agencies.portal.client.put("/exchange/endpoints/pension_benefit", json={"url": url},
                                                headers=agencies.auth("japan-pension-service"))
    assert (response.status_code, response.json()["code"]) == (400, "BAD_USER_INPUT")


async def test_records_page_through_newest_first(agencies: Agencies) -> None:
    for _ in range(3):
        await agencies.ask("chiyoda-city", personCode=agencies.father["chiyoda-city"], duty="child_allowance",
                           provider="yokohama-city", items=["local_tax"])
    client, headers = agencies.portal.client, agencies.auth("chiyoda-city")
    first = (await client.get("/exchange/records", params={"first": 2}, headers=headers)).json()
    rest = (await client.get("/exchange/records", params={"first": 2, "after": first["endCursor"]},
                             headers=headers)).json()
    times = [r["requestedAt"] for r in first["records"] + rest["records"]]
    assert len(times) == 3 and times == sorted(times, reverse=True)
    assert (first["hasNextPage"], rest["hasNextPage"]) == (True, False)
    # Yokohama's own requests list is empty: records of other agencies' requests are not its to read.
    other = (await client.get("/exchange/records", headers=agencies.auth("yokohama-city"))).json()
    assert other["records"] == []


async def test_the_legal_table_is_public_and_cites_its_source(agencies: Agencies) -> None:
    table = (await agencies.portal.client.get("/exchange/legal-table")).json()
    assert table["asOf"] == "2015-09-09" and "別表第二" in table["instrument"]
    assert {"id": "beppyo2:74:1", "row": 74} == {k: next(r for r in table["rows"] if r["row"] == 74)[k]
                                                 for k in ("id", "row")}


async def test_the_openapi_document_names_every_route(agencies: Agencies) -> None:
    document = (await agencies.portal.client.get("/exchange/openapi.json")).json()
    routes = {(route.path, method.lower()) for route in agencies.portal.app.routes
              if getattr(route, "path", "").startswith("/exchange/")
              for method in route.methods - {"HEAD"}}  # type: ignore[attr-defined]
    assert len(routes) == 6
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert routes == documented
