"""Plain factory functions for test data (values that tests assert on are returned, not repeated)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.models import Agency, AgencyKind
from api.people.individual_number import IndividualNumberCipher, check_digit
from api.people.models import Municipality, Person, Sex
from api.people.service import NewPerson, register_person

MUNICIPALITY_CODE = "131016"


def individual_number(base11: str) -> str:
    return base11 + str(check_digit(base11))


async def make_municipality(session: AsyncSession, code: str = MUNICIPALITY_CODE) -> Municipality:
    municipality = Municipality(code=code, prefecture="東京都", name="千代田区")
    session.add(municipality)
    await session.flush()
    return municipality


async def make_person(
    session: AsyncSession,
    cipher: IndividualNumberCipher,
    *,
    number: str,
    name: str = "山田 太郎",
    birth_date: date = date(1985, 4, 1),
    email: str | None = None,
) -> Person:
    return await register_person(
        session,
        cipher,
        NewPerson(name=name, name_kana="ヤマダ タロウ", birth_date=birth_date, sex=Sex.MALE,
                  address="東京都千代田区霞が関二丁目1番2号", municipality_code=MUNICIPALITY_CODE,
                  individual_number=number, email=email),
    )


async def make_agency(session: AsyncSession, slug: str, kind: AgencyKind = AgencyKind.MINISTRY) -> Agency:
    agency = Agency(slug=slug, name=slug.replace("-", " ").title(), kind=kind)
    session.add(agency)
    await session.flush()
    return agency
