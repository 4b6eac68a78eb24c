"""The request's loaders: strawberry DataLoaders made on first use; one person in one point read with their
municipality primed; several in one short-lived session per batch."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from strawberry.dataloader import DataLoader

from api.demo import seed_demo
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person
from api.people.records import MunicipalityRecord, PersonRecord
from api.platform.db import create_session_factory
from api.schema.context import Loaders


async def test_loaders_read_one_person_with_their_municipality_and_batch_the_rest(
    engine: AsyncEngine, cipher: IndividualNumberCipher
) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        father, mother, child = (await seed_demo(session, cipher)).people
    opened: list[AsyncSession] = []

    def counting() -> AsyncSession:
        opened.append(session := factory())
        return session

    loaders = Loaders(counting, engine)  # type: ignore[arg-type]
    assert not {"person", "municipality", "agency", "corporate_history"} & vars(loaders).keys()  # none made yet

    assert isinstance(loaders.person, DataLoader)
    me = await loaders.person.load(father)
    assert isinstance(me, PersonRecord)
    async with factory() as session:
        row = await session.get(Person, father)
        assert row is not None
        assert (me.id, me.name, me.municipality_code, me.individual_number_ciphertext) == (
            row.id, row.name, row.municipality_code, row.individual_number_ciphertext)
    municipality = await loaders.municipality.load(me.municipality_code)
    assert isinstance(municipality, MunicipalityRecord)
    assert municipality.code == me.municipality_code
    assert opened == []  # the point read, and the municipality primed by it: no session at all

    others = await asyncio.gather(loaders.person.load(mother), loaders.person.load(child),
                                  loaders.person.load(mother))
    assert [person.id for person in others] == [mother, child, mother]
    assert len(opened) == 1  # one batch, one session
    assert await loaders.person.load(child) is others[1]  # cached for the rest of the request
    assert len(opened) == 1
    assert "agency" not in vars(loaders)


async def test_an_unknown_person_loads_as_none(engine: AsyncEngine) -> None:
    loaders = Loaders(create_session_factory(engine), engine)
    assert await loaders.person.load(uuid.uuid4()) is None
    assert "municipality" not in vars(loaders)
