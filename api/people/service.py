"""Person rules: registration with the encrypted number, who may read whom, family pages."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy import ColumnElement, and_, bindparam, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality, ParentChild, Person, Sex
from api.people.records import MunicipalityRecord, PersonRecord
from api.platform.access_records import record_access
from api.platform.db import PointRead
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import InvalidPageRequest, Page, PageRequest, page_of

ADULT_AGE = 18


@dataclass(frozen=True)
class NewPerson:
    name: str
    name_kana: str
    birth_date: date
    sex: Sex
    address: str
    municipality_code: str
    individual_number: str
    email: str | None = None
    phone: str | None = None


async def register_person(session: AsyncSession, cipher: IndividualNumberCipher, new: NewPerson) -> Person:
    sealed = cipher.seal(new.individual_number)
    older = cipher.lookup_hashes(new.individual_number)[1:]
    # During a rotation the number may sit under an older lookup generation, which the unique key cannot see.
    if older and await session.scalar(select(Person.id).where(_hash_matches(older))):
        raise PortalError(ErrorCode.PERSON_ALREADY_REGISTERED,
                          "a person with this individual number or email already exists")
    person = Person(
        name=new.name,
        name_kana=new.name_kana,
        birth_date=new.birth_date,
        sex=new.sex,
        address=new.address,
        municipality_code=new.municipality_code,
        email=new.email,
        phone=new.phone,
        individual_number_ciphertext=sealed.ciphertext,
        number_key_generation=sealed.key_generation,
        individual_number_hash=sealed.lookup_hash,
        number_lookup_generation=sealed.lookup_generation,
    )
    try:
        async with session.begin_nested():
            session.add(person)
            await session.flush()
    except IntegrityError as error:
        # The unique keys decide (no check-then-insert race); other violations are bugs and propagate.
        taken = select(Person.id).where(
            (Person.individual_number_hash == person.individual_number_hash)
            | ((Person.email == new.email) if new.email is not None else false())
        )
        if await session.scalar(taken) is not None:
            # The message never carries the number.
            raise PortalError(ErrorCode.PERSON_ALREADY_REGISTERED,
                              "a person with this individual number or email already exists") from error
        raise
    return person


def _hash_matches(hashes: list[tuple[int, bytes]]) -> ColumnElement[bool]:
    return or_(*(and_(Person.individual_number_hash == digest, Person.number_lookup_generation == generation)
                 for generation, digest in hashes))


async def find_by_individual_number(
    session: AsyncSession, cipher: IndividualNumberCipher, number: str
) -> Person | None:
    """The person with this number, whichever active lookup generation their row is under."""
    return await session.scalar(select(Person).where(_hash_matches(cipher.lookup_hashes(number))))


def decrypt_number(cipher: IndividualNumberCipher, person: Person | PersonRecord) -> str:
    return cipher.decrypt(person.individual_number_ciphertext, person.number_key_generation)


async def find_by_id_or_email(session: AsyncSession, wanted: str) -> Person | None:
    """The person with this id or email (how operators name a person on the command line)."""
    try:
        condition = or_(Person.id == uuid.UUID(wanted), Person.email == wanted)
    except ValueError:
        condition = Person.email == wanted
    return await session.scalar(select(Person).where(condition))


async def link_parent(session: AsyncSession, parent_id: uuid.UUID, child_id: uuid.UUID) -> None:
    session.add(ParentChild(parent_id=parent_id, child_id=child_id))
    await session.flush()


async def persons_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Person]:
    rows = await session.scalars(select(Person).where(Person.id.in_(ids)))
    return {person.id: person for person in rows}


async def person_with_municipality(engine: AsyncEngine, person_id: uuid.UUID
                                   ) -> tuple[PersonRecord, MunicipalityRecord] | None:
    """The person and their municipality in one point read (api.platform.db.PointRead): the signed-in person's own
    requests (``viewer``) need both, and a session of their own would cost several times the read."""
    row = await _PERSON_WITH_MUNICIPALITY.first(engine, {"person_id": person_id})
    if row is None:
        return None
    return PersonRecord(*row[:_PERSON_COLUMNS]), MunicipalityRecord(*row[_PERSON_COLUMNS:])


async def municipalities_by_codes(session: AsyncSession, codes: Iterable[str]) -> dict[str, Municipality]:
    rows = await session.scalars(select(Municipality).where(Municipality.code.in_(list(codes))))
    return {m.code: m for m in rows}


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


async def readable_person(
    session: AsyncSession, viewer_id: uuid.UUID, subject_id: uuid.UUID, *, today: date, purpose: str
) -> Person | None:
    """The subject if the viewer may read them (themselves, or their minor child), else None.

    A read of someone else is recorded in the same transaction as the read.
    """
    if viewer_id == subject_id:
        return await session.get(Person, subject_id)
    child = await session.scalar(
        select(Person)
        .join(ParentChild, ParentChild.child_id == Person.id)
        .where(ParentChild.parent_id == viewer_id, Person.id == subject_id)
    )
    if child is None or age_on(child.birth_date, today) >= ADULT_AGE:
        return None
    await record_access(session, actor_id=viewer_id, subject_ids=[child.id], purpose=purpose)
    return child


async def children_page(
    session: AsyncSession, parent_id: uuid.UUID, request: PageRequest, *, purpose: str
) -> Page[Person]:
    """The parent's children ordered by birth date then id; each child shown is an access record."""
    query = (
        select(Person)
        .join(ParentChild, ParentChild.child_id == Person.id)
        .where(ParentChild.parent_id == parent_id)
        .order_by(Person.birth_date, Person.id)
        .limit(request.first + 1)
    )
    if request.after is not None:
        born, ident = _child_cursor(request.after)
        query = query.where((Person.birth_date > born) | ((Person.birth_date == born) & (Person.id > ident)))
    rows = list(await session.scalars(query))
    page = page_of(rows, request, key=lambda p: (p.birth_date.isoformat(), str(p.id)))
    if page.items:
        await record_access(session, actor_id=parent_id, subject_ids=[p.id for _, p in page.items],
                            purpose=purpose)
    return page


def _child_cursor(after: tuple[str, ...]) -> tuple[date, uuid.UUID]:
    try:
        born, ident = after
        return date.fromisoformat(born), uuid.UUID(ident)
    except ValueError as error:
        raise InvalidPageRequest("the cursor is not valid") from error


# -- units of work (one transaction each) for the GraphQL layer ----------------------------------------------------
async def read_people(session_factory: async_sessionmaker[AsyncSession], viewer_id: uuid.UUID,
                      subject_ids: Iterable[uuid.UUID | None], *, today: date, purpose: str) -> list[Person | None]:
    """Each subject the viewer may read (themself, their minor child), None for the others and a None id."""
    found: list[Person | None] = []
    async with session_factory() as session, session.begin():
        for subject_id in subject_ids:
            found.append(await readable_person(session, viewer_id, subject_id, today=today, purpose=purpose)
                         if subject_id else None)
    return found


async def list_children(session_factory: async_sessionmaker[AsyncSession], parent_id: uuid.UUID,
                        request: PageRequest, *, purpose: str) -> Page[Person]:
    async with session_factory() as session, session.begin():
        return await children_page(session, parent_id, request, purpose=purpose)


_PERSON_KEYS = tuple(field.name for field in fields(PersonRecord))
_PERSON_COLUMNS = len(_PERSON_KEYS)
_PERSON_WITH_MUNICIPALITY = PointRead(
    select(*(getattr(Person, key) for key in _PERSON_KEYS),
           *(getattr(Municipality, field.name) for field in fields(MunicipalityRecord)))
    .join(Municipality, Municipality.code == Person.municipality_code)
    .where(Person.id == bindparam("person_id"))
)
