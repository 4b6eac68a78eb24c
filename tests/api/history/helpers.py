"""Test data of the person's record: a family, two agencies, exchange and access entries at given times."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.models import Agency, AgencyKind
from api.exchange.models import ExchangeRecord
from api.people.individual_number import IndividualNumberCipher
from api.people.service import link_parent
from api.platform.access_records import AccessRecord
from tests.factories import individual_number, make_agency, make_municipality, make_person

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@dataclass
class Family:
    father: uuid.UUID
    mother: uuid.UUID
    child: uuid.UUID
    city: Agency
    pension: Agency


async def make_family(session: AsyncSession, cipher: IndividualNumberCipher) -> Family:
    await make_municipality(session)
    father = await make_person(session, cipher, number=individual_number("20000000001"), email="f@example.jp")
    mother = await make_person(session, cipher, number=individual_number("20000000002"), name="山田 花子",
                               birth_date=date(1987, 9, 15), email="m@example.jp")
    child = await make_person(session, cipher, number=individual_number("20000000003"), name="山田 一郎",
                              birth_date=date(2019, 6, 10))
    await link_parent(session, father.id, child.id)
    city = await make_agency(session, "chiyoda-city", AgencyKind.MUNICIPALITY)
    pension = await make_agency(session, "japan-pension-service", AgencyKind.PENSION)
    return Family(father.id, mother.id, child.id, city, pension)


async def add_exchange(session: AsyncSession, person: uuid.UUID, requester: Agency, provider: Agency, at: datetime,
                       *, duty: str = "児童手当の支給", items: tuple[str, ...] = ("地方税関係情報",),
                       hidden_until: datetime | None = None) -> ExchangeRecord:
    record = ExchangeRecord(person_id=person, requester_agency_id=requester.id, provider_agency_id=provider.id,
                            duty=duty, item_names=list(items), legal_row_id="beppyo2:74", legal_table_version="2015",
                            requested_at=at, provided_at=at + timedelta(seconds=2), query_id=uuid.uuid4(),
                            processing_type="copy", outcome="provided", hidden_until=hidden_until,
                            hidden_reason="捜査" if hidden_until else None)
    session.add(record)
    await session.flush()
    return record


async def add_access(session: AsyncSession, subject: uuid.UUID, at: datetime, *, actor: uuid.UUID | None = None,
                     operator: str | None = None, purpose: str = "proxy:profile") -> AccessRecord:
    record = AccessRecord(subject_person_id=subject, actor_person_id=actor, actor_operator=operator, purpose=purpose,
                          accessed_at=at)
    session.add(record)
    await session.flush()
    return record
