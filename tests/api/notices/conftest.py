from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.agencies.models import Agency, AgencyPersonCode
from api.demo import seed_demo
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from tests.push.helpers import LocalPushService, running_push_service


@dataclass
class Demo:
    factory: async_sessionmaker[AsyncSession]
    father: object
    mother: object
    child: object
    city: Agency
    pension: Agency

    async def code(self, agency: Agency, person: object) -> str:
        async with self.factory() as session:
            code = await session.scalar(select(AgencyPersonCode.code).where(
                AgencyPersonCode.agency_id == agency.id, AgencyPersonCode.person_id == person))
        assert code is not None
        return code


@pytest.fixture
async def demo(engine: AsyncEngine, cipher: IndividualNumberCipher) -> AsyncIterator[Demo]:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        seed = await seed_demo(session, cipher)
        agencies = {a.slug: a for a in await session.scalars(select(Agency))}
    father, mother, child = seed.people
    yield Demo(factory, father, mother, child, agencies["chiyoda-city"], agencies["japan-pension-service"])


@pytest.fixture
async def push_service(tmp_path: Path) -> AsyncIterator[LocalPushService]:
    async with running_push_service(tmp_path) as service:
        yield service
