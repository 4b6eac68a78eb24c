"""さがす and ぴったり for a person: the procedures their municipality publishes, searched, or fitted to their
household (their children, and whether each has one parent linked here)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from api.applications.catalogue import Fit, HouseholdChild, Procedure, Query, fitting, search
from api.applications.offerings import offered
from api.people.models import ParentChild, Person


async def find(session_factory: async_sessionmaker[AsyncSession], query: Query,
               municipality_code: str | None) -> list[tuple[Procedure, list[str]]]:
    """The published procedures matching the query, each with the municipalities that publish it."""
    async with session_factory() as session:
        found = await offered(session, municipality_code)
    where: dict[str, list[str]] = {}
    procedures: dict[str, Procedure] = {}
    for o in found:
        procedures.setdefault(o.procedure.code, o.procedure)
        where.setdefault(o.procedure.code, []).append(o.offering.municipality_code)
    return [(p, where[p.code]) for p in search(list(procedures.values()), query)]


async def household(session: AsyncSession, person_id: uuid.UUID) -> list[HouseholdChild]:
    """The person's children with how many parents each has linked (one: a single-parent household)."""
    links = aliased(ParentChild)
    parents = (select(func.count()).select_from(links).where(links.child_id == ParentChild.child_id)
               .correlate(ParentChild).scalar_subquery())
    rows = await session.execute(
        select(Person.name, Person.birth_date, parents).join(ParentChild, ParentChild.child_id == Person.id)
        .where(ParentChild.parent_id == person_id).order_by(Person.birth_date, Person.id))
    return [HouseholdChild(name, birth, count) for name, birth, count in rows.all()]


async def pittari(session_factory: async_sessionmaker[AsyncSession], person_id: uuid.UUID,
                  today: date) -> list[Fit]:
    async with session_factory() as session:
        municipality = await session.scalar(select(Person.municipality_code).where(Person.id == person_id))
        if municipality is None:
            return []
        procedures = [o.procedure for o in await offered(session, municipality)]
        children = await household(session, person_id)
    return fitting(procedures, children, today)
