from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.history.entries import EntryKind, RecordFilter, own_record_page, record_page
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from api.platform.pagination import InvalidPageRequest, PageRequest, decode_cursor, encode_cursor
from tests.api.history.helpers import T0, add_access, add_exchange, make_family

NOW = T0 + timedelta(days=30)


async def test_exchanges_and_reads_merge_newest_first_across_pages(session: AsyncSession,
                                                                   cipher: IndividualNumberCipher) -> None:
    family = await make_family(session, cipher)
    made = []
    for minute in range(5):
        made.append(("e", (await add_exchange(session, family.father, family.city, family.pension,
                                              T0 + timedelta(minutes=2 * minute))).id))
        made.append(("a", (await add_access(session, family.father, T0 + timedelta(minutes=2 * minute + 1),
                                            actor=family.mother)).id))
    await add_exchange(session, family.mother, family.city, family.pension, T0 + timedelta(hours=1))  # not his
    expected = [ident for _, ident in reversed(made)]

    seen, after = [], None
    while True:
        page = await record_page(session, family.father, PageRequest(3, after), RecordFilter(), now=NOW)
        seen.extend(entry.id for _, entry in page.items)
        if not page.has_next_page:
            break
        after = decode_cursor(page.items[-1][0])
    assert seen == expected
    first = await record_page(session, family.father, PageRequest(2, None), RecordFilter(), now=NOW)
    assert [entry.kind for _, entry in first.items] == [EntryKind.PROXY_READ, EntryKind.EXCHANGE]
    assert first.items[1][1].agencies[family.city.id].slug == "chiyoda-city"


async def test_a_withheld_exchange_is_left_out_until_its_date(session: AsyncSession,
                                                              cipher: IndividualNumberCipher) -> None:
    family = await make_family(session, cipher)
    shown = await add_exchange(session, family.father, family.city, family.pension, T0)
    hidden = await add_exchange(session, family.father, family.city, family.pension, T0 + timedelta(minutes=1),
                                hidden_until=NOW + timedelta(days=1))
    before = await record_page(session, family.father, PageRequest(10, None), RecordFilter(), now=NOW)
    assert [entry.id for _, entry in before.items] == [shown.id]
    assert before.has_next_page is False
    after = await record_page(session, family.father, PageRequest(10, None), RecordFilter(),
                              now=NOW + timedelta(days=1))
    assert [entry.id for _, entry in after.items] == [hidden.id, shown.id]


async def test_filters_by_period_agency_duty_and_kind(session: AsyncSession, cipher: IndividualNumberCipher) -> None:
    family = await make_family(session, cipher)
    old = await add_exchange(session, family.father, family.city, family.pension, T0, duty="国民年金")
    new = await add_exchange(session, family.father, family.pension, family.pension, T0 + timedelta(days=2))
    read = await add_access(session, family.father, T0 + timedelta(days=1), actor=family.mother)
    staff = await add_access(session, family.father, T0 + timedelta(days=3), operator="窓口 佐藤",
                             purpose="lost-card")

    async def ids(filters: RecordFilter) -> list[object]:
        page = await record_page(session, family.father, PageRequest(10, None), filters, now=NOW)
        return [entry.id for _, entry in page.items]

    assert await ids(RecordFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2))) == [read.id]
    assert await ids(RecordFilter(agency_id=family.city.id)) == [old.id]
    assert await ids(RecordFilter(agency_id=family.pension.id)) == [new.id, old.id]
    assert await ids(RecordFilter(duty="国民年金")) == [old.id]
    assert await ids(RecordFilter(kinds=frozenset({EntryKind.STAFF_ACCESS}))) == [staff.id]
    assert await ids(RecordFilter(kinds=frozenset({EntryKind.PROXY_READ, EntryKind.EXCHANGE}))) == [
        new.id, read.id, old.id]
    with pytest.raises(PortalError) as refused:
        RecordFilter(since=T0, until=T0).check()
    assert refused.value.code == "BAD_USER_INPUT"


async def test_a_cursor_of_another_connection_is_refused(session: AsyncSession,
                                                         cipher: IndividualNumberCipher) -> None:
    family = await make_family(session, cipher)
    with pytest.raises(InvalidPageRequest):
        await record_page(session, family.father, PageRequest.parse(5, encode_cursor("chiyoda-city")),
                          RecordFilter(), now=NOW)


async def test_the_own_record_hot_path_gives_the_same_pages(engine: AsyncEngine,
                                                            cipher: IndividualNumberCipher) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        family = await make_family(session, cipher)
        for minute in range(4):
            await add_exchange(session, family.father, family.city, family.pension, T0 + timedelta(minutes=minute))
            await add_access(session, family.father, T0 + timedelta(minutes=minute), operator="窓口")
        await add_exchange(session, family.father, family.city, family.pension, T0 + timedelta(minutes=9),
                           hidden_until=NOW + timedelta(days=1))

    async def walk(read: object) -> list[object]:
        seen, after = [], None
        while True:
            page = await read(PageRequest(3, after))  # type: ignore[operator]
            seen.extend((entry.kind, entry.id) for _, entry in page.items)
            if not page.has_next_page:
                return seen
            after = decode_cursor(page.items[-1][0])

    async def slow(request: PageRequest) -> object:
        async with factory() as session:
            return await record_page(session, family.father, request, RecordFilter(), now=NOW)

    expected = await walk(slow)
    assert len(expected) == 8
    assert await walk(lambda request: own_record_page(engine, family.father, request, now=NOW)) == expected
