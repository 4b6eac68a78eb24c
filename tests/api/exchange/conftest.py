"""A small exchange world: two municipalities, a pension service, an insurer, one person known to all four."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.agencies.models import AgencyKind
from api.agencies.service import assign_code
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from tests.factories import individual_number, make_agency, make_municipality, make_person


@dataclass(frozen=True)
class World:
    factory: async_sessionmaker[AsyncSession]
    agencies: dict[str, uuid.UUID]  # slug -> id
    codes: dict[str, str]  # slug -> that agency's code for the person
    person_id: uuid.UUID


@pytest.fixture
async def world(engine: AsyncEngine, cipher: IndividualNumberCipher) -> World:
    factory = create_session_factory(engine)
    kinds = {"chiyoda-city": AgencyKind.MUNICIPALITY, "yokohama-city": AgencyKind.MUNICIPALITY,
             "japan-pension-service": AgencyKind.PENSION, "kyokai-kenpo": AgencyKind.INSURER}
    async with factory() as session, session.begin():
        await make_municipality(session)
        person = await make_person(session, cipher, number=individual_number("10000000001"))
        agencies = {slug: (await make_agency(session, slug, kind)).id for slug, kind in kinds.items()}
        codes = {slug: await assign_code(session, agency_id, person.id) for slug, agency_id in agencies.items()}
    return World(factory=factory, agencies=agencies, codes=codes, person_id=person.id)
