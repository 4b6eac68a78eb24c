from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.history import service
from api.history.entries import EntryKind, RecordFilter
from api.people.individual_number import IndividualNumberCipher
from api.platform.access_records import AccessRecord
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from api.platform.pagination import PageRequest
from api.proxies.service import grant_proxy
from tests.api.history.helpers import T0, add_exchange, make_family

TODAY = date(2026, 12, 5)


async def test_the_person_a_parent_and_a_proxy_with_records_read_may_read(engine: AsyncEngine,
                                                                           cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        family = await make_family(session, cipher)
        await add_exchange(session, family.child, family.city, family.pension, T0)
        await add_exchange(session, family.father, family.city, family.pension, T0)
        await grant_proxy(session, principal_id=family.father, proxy_id=family.mother, scopes=["notices:read"],
                          valid_until=TODAY + timedelta(days=9), today=TODAY)

    own = await service.read_record(factory, family.father, family.father, PageRequest(10, None), RecordFilter(),
                                    today=TODAY)
    assert [entry.kind for _, entry in own.items] == [EntryKind.EXCHANGE]
    # The father reads his minor child's record: it shows the exchange and, from now on, his read.
    await service.read_record(factory, family.father, family.child, PageRequest(10, None), RecordFilter(),
                              today=TODAY)
    child = await service.read_record(factory, family.child, family.child, PageRequest(10, None), RecordFilter(),
                                      today=TODAY)
    assert [(entry.kind, entry.access.actor_person_id if entry.access else None) for _, entry in child.items] == [
        (EntryKind.PROXY_READ, family.father), (EntryKind.EXCHANGE, None)]

    # The mother holds a grant without records:read: refused, and nothing is written.
    async with factory() as session:
        before = len(list(await session.scalars(select(AccessRecord.id))))
    with pytest.raises(PortalError) as refused:
        await service.read_record(factory, family.mother, family.father, PageRequest(10, None), RecordFilter(),
                                  today=TODAY)
    assert refused.value.code == "NOT_AUTHORIZED_FOR_PERSON"
    async with factory() as session, session.begin():
        assert len(list(await session.scalars(select(AccessRecord.id)))) == before
        await grant_proxy(session, principal_id=family.father, proxy_id=family.mother, scopes=["records:read"],
                          valid_until=TODAY + timedelta(days=9), today=TODAY)
    read = await service.read_record(factory, family.mother, family.father, PageRequest(10, None), RecordFilter(),
                                     today=TODAY)
    assert [entry.kind for _, entry in read.items] == [EntryKind.EXCHANGE]
    own = await service.read_record(factory, family.father, family.father, PageRequest(10, None), RecordFilter(),
                                    today=TODAY)
    assert [(entry.kind, entry.access.purpose if entry.access else None) for _, entry in own.items] == [
        (EntryKind.PROXY_READ, "records:history"), (EntryKind.EXCHANGE, None)]


async def test_a_parent_may_not_read_an_adult_childs_record(engine: AsyncEngine,
                                                           cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        family = await make_family(session, cipher)
    with pytest.raises(PortalError) as refused:
        await service.read_record(factory, family.father, family.child, PageRequest(10, None), RecordFilter(),
                                  today=date(2039, 6, 10))  # 20 years old
    assert refused.value.code == "NOT_AUTHORIZED_FOR_PERSON"
