from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person
from api.people.service import (
    age_on,
    find_by_id_or_email,
    find_by_individual_number,
    link_parent,
    readable_person,
)
from api.platform.access_records import access_records_for
from api.platform.errors import PortalError
from tests.factories import individual_number, make_municipality, make_person

NUMBER = individual_number("62149832025")
TODAY = date(2026, 11, 27)


async def test_the_number_is_never_stored_in_clear(
    session: AsyncSession, engine: AsyncEngine, cipher: IndividualNumberCipher
) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=NUMBER)
    await session.commit()
    assert cipher.decrypt(person.individual_number_ciphertext, person.number_key_generation) == NUMBER
    if engine.dialect.name == "sqlite":
        # The raw file (and its WAL) must not contain the digits, in text or as any column value. Read by
        # another process: closing a descriptor of a database file in this process would drop the POSIX
        # locks SQLite holds on it for this process's other connections.
        path = engine.url.database
        files = [p for p in (path, path + "-wal") if Path(p).exists()]  # noqa: ASYNC240
        raw = subprocess.run(["cat", *files], capture_output=True, check=True).stdout  # noqa: ASYNC221
        assert raw and b"\xe5\xb1\xb1\xe7\x94\xb0" in raw  # the name is there, so we read the right file
        assert NUMBER.encode() not in raw
    else:
        dump = await session.scalar(text("SELECT string_agg(p::text, '|') FROM persons p"))
        assert "山田" in dump and NUMBER not in dump


async def test_a_number_registers_once(session: AsyncSession, cipher: IndividualNumberCipher) -> None:
    await make_municipality(session)
    await make_person(session, cipher, number=NUMBER)
    with pytest.raises(PortalError) as raised:
        await make_person(session, cipher, number=NUMBER, name="別人")
    assert raised.value.code == "PERSON_ALREADY_REGISTERED"
    assert NUMBER not in str(raised.value)
    assert await session.scalar(select(func.count()).select_from(Person)) == 1


async def test_find_by_number_uses_the_keyed_hash(session: AsyncSession, cipher: IndividualNumberCipher) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=NUMBER)
    assert await find_by_individual_number(session, cipher, NUMBER) is person
    assert await find_by_individual_number(session, cipher, individual_number("12345678901")) is None


async def test_foreign_keys_are_enforced(session: AsyncSession, cipher: IndividualNumberCipher) -> None:
    with pytest.raises(IntegrityError):
        await make_person(session, cipher, number=NUMBER)  # municipality 131016 does not exist yet


def test_age_counts_birthdays() -> None:
    assert age_on(date(2008, 11, 28), TODAY) == 17
    assert age_on(date(2008, 11, 27), TODAY) == 18


async def test_a_parent_reads_a_minor_child_and_the_read_is_recorded(
    session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    await make_municipality(session)
    parent = await make_person(session, cipher, number=individual_number("10000000001"))
    child = await make_person(session, cipher, number=individual_number("10000000003"), birth_date=date(2019, 6, 10))
    adult_child = await make_person(session, cipher, number=individual_number("10000000004"),
                                    birth_date=date(2000, 1, 1))
    stranger = await make_person(session, cipher, number=individual_number("10000000005"))
    await link_parent(session, parent.id, child.id)
    await link_parent(session, parent.id, adult_child.id)

    assert await readable_person(session, parent.id, parent.id, today=TODAY, purpose="node") is parent
    assert await readable_person(session, parent.id, child.id, today=TODAY, purpose="node") is child
    assert await readable_person(session, parent.id, adult_child.id, today=TODAY, purpose="node") is None
    assert await readable_person(session, parent.id, stranger.id, today=TODAY, purpose="node") is None

    [record] = await access_records_for(session, child.id)
    assert (record.actor_person_id, record.subject_person_id, record.purpose) == (parent.id, child.id, "node")
    assert await access_records_for(session, parent.id) == []
    assert await access_records_for(session, adult_child.id) == []
    assert await access_records_for(session, stranger.id) == []


async def test_find_by_id_or_email(session: AsyncSession, cipher: IndividualNumberCipher) -> None:
    await make_municipality(session)
    person = await make_person(session, cipher, number=NUMBER, email="taro@example.jp")
    assert await find_by_id_or_email(session, "taro@example.jp") is person
    assert await find_by_id_or_email(session, str(person.id)) is person
    assert await find_by_id_or_email(session, "nobody@example.jp") is None
