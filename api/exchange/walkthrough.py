"""The exchange walkthrough `make run` prints: one lawful exchange and one outside the table, both recorded."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency, AgencyPersonCode
from api.exchange.hub import ExchangeAnswer, ExchangeRefused, ExchangeRequest, Hub
from api.people.models import Person


@dataclass(frozen=True)
class Walkthrough:
    request: ExchangeRequest
    answer: ExchangeAnswer
    refused_request: ExchangeRequest
    refused: ExchangeRefused


async def walkthrough(session_factory: async_sessionmaker[AsyncSession], *, email: str, requester: str,
                      provider: str, outside_provider: str) -> Walkthrough:
    """``requester`` asks ``provider`` for the person's 地方税関係情報 for 児童手当 (別表第二 74), then asks
    ``outside_provider`` for insurance data for the same duty, which the table does not allow."""
    async with session_factory() as session:
        found = (await session.execute(
            select(Agency.id, AgencyPersonCode.code).join(AgencyPersonCode, AgencyPersonCode.agency_id == Agency.id)
            .join(Person, Person.id == AgencyPersonCode.person_id)
            .where(Agency.slug == requester, Person.email == email))).one_or_none()
    if found is None:
        raise LookupError(f"no person {email} known to {requester}: run `mynaportal demo-seed` first")
    requester_id, code = found
    hub = Hub(session_factory)
    lawful = ExchangeRequest(person_code=code, duty="child_allowance", provider=provider, items=("local_tax",))
    answer = await hub.request(requester_id, lawful)
    outside = ExchangeRequest(person_code=code, duty="child_allowance", provider=outside_provider,
                              items=("medical_insurance_benefit",))
    try:
        await hub.request(requester_id, outside)
    except ExchangeRefused as refused:
        return Walkthrough(lawful, answer, outside, refused)
    raise AssertionError("the legal table allowed an exchange it must refuse")
