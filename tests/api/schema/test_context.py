"""The request's loaders: strawberry DataLoaders made on first use, one short-lived session per batch, and what
the token lookup found primed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from strawberry.dataloader import DataLoader

from api.db import create_session_factory
from api.demo import seed_demo
from api.identity.authentication import authenticate_person
from api.identity.tokens import issue_token
from api.people.individual_number import IndividualNumberCipher
from api.schema.context import Loaders


async def test_loaders_batch_in_one_session_each_and_know_the_signed_in_person(
    engine: AsyncEngine, cipher: IndividualNumberCipher
) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        father, mother, child = (await seed_demo(session, cipher)).people
        found = await authenticate_person(session, await issue_token(session, father, ttl=timedelta(minutes=5)))
    opened: list[AsyncSession] = []

    def counting() -> AsyncSession:
        opened.append(session := factory())
        return session

    loaders = Loaders(counting, person=found.person, municipality=found.municipality)  # type: ignore[arg-type]
    assert not {"person", "municipality", "agency", "corporate_history"} & vars(loaders).keys()  # none made yet

    assert isinstance(loaders.person, DataLoader)
    assert await loaders.person.load(father) is found.person
    assert await loaders.municipality.load(found.municipality.code) is found.municipality
    assert opened == []  # primed: no session at all

    others = await asyncio.gather(loaders.person.load(mother), loaders.person.load(child),
                                  loaders.person.load(mother))
    assert [person.id for person in others] == [mother, child, mother]
    assert len(opened) == 1  # one batch, one session
    assert await loaders.person.load(child) is others[1]  # cached for the rest of the request
    assert len(opened) == 1
    assert "agency" not in vars(loaders)
