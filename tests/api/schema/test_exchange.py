"""The exchange operations in GraphQL: refusals carry their code and query id; only agency keys may ask."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.agencies.credentials import agency_by_slug, issue_agency_key
from api.agencies.models import AgencyPersonCode
from api.exchange.models import ExchangeRecord
from api.platform.db import create_session_factory
from tests.api.conftest import Portal, operation


async def _chiyoda(engine: AsyncEngine, portal: Portal) -> tuple[str, str]:
    async with create_session_factory(engine)() as session, session.begin():
        agency = await agency_by_slug(session, "chiyoda-city")
        assert agency is not None
        key = await issue_agency_key(session, agency.id, label="test")
        code = await session.scalar(select(AgencyPersonCode.code).where(
            AgencyPersonCode.agency_id == agency.id, AgencyPersonCode.person_id == portal.father))
    return key, str(code)


async def _records(engine: AsyncEngine) -> list[ExchangeRecord]:
    async with create_session_factory(engine)() as session:
        return list(await session.scalars(select(ExchangeRecord)))


async def test_a_refused_request_is_a_coded_error_with_its_query_id_and_recorded(portal: Portal,
                                                                                engine: AsyncEngine) -> None:
    key, code = await _chiyoda(engine, portal)
    result = await portal.query(operation("ExchangeRequest"), {"input": {
        "personCode": code, "duty": "child_allowance", "provider": "kyokai-kenpo",
        "items": ["medical_insurance_benefit"]}}, token=key)
    [error] = result["errors"]
    [record] = await _records(engine)
    assert (error["extensions"]["code"], error["extensions"]["queryId"]) == (
        "EXCHANGE_NOT_PERMITTED", str(record.query_id))
    assert (record.outcome, record.refusal_code) == ("refused", "EXCHANGE_NOT_PERMITTED")


async def test_a_persons_session_cannot_ask_through_the_hub(portal: Portal, engine: AsyncEngine) -> None:
    _, code = await _chiyoda(engine, portal)
    result = await portal.query(operation("ExchangeRequest"), {"input": {
        "personCode": code, "duty": "child_allowance", "provider": "yokohama-city", "items": ["local_tax"]}},
        token=portal.father_token)
    assert [e["extensions"]["code"] for e in result["errors"]] == ["FORBIDDEN"]
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(ExchangeRecord)) == 0
