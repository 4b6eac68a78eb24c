"""さがす and ぴったり for a person: the procedures their municipality publishes, searched, or fitted to their
household (their children, and whether each has one parent linked here)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from api.applications.catalogue import (
    Fit,
    HouseholdChild,
    Procedure,
    Query,
    RuleSet,
    compile_rules,
    fit_rules,
    search,
)
from api.applications.offerings import Offered, offered
from api.people.models import ParentChild, Person
from api.platform.db import PointRead


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


def _household_read() -> PointRead:
    links = aliased(ParentChild)
    child = aliased(Person)
    parents = (select(func.count()).select_from(links).where(links.child_id == ParentChild.child_id)
               .correlate(ParentChild).scalar_subquery())
    return PointRead(
        select(Person.municipality_code, child.name, child.birth_date, parents)
        .outerjoin(ParentChild, ParentChild.parent_id == Person.id)
        .outerjoin(child, child.id == ParentChild.child_id)
        .where(Person.id == bindparam("person")).order_by(child.birth_date, child.id))


# ぴったり's one read, by index, on a kept connection outside a transaction (api.platform.db.PointRead): no BEGIN and
# ROLLBACK round trips, the statement built and compiled once.
_HOUSEHOLD = _household_read()


async def household(engine: AsyncEngine, person_id: uuid.UUID) -> tuple[str | None, list[HouseholdChild]]:
    """The person's municipality and children, each child with how many parents it has linked (one: a
    single-parent household); one statement."""
    rows = await _HOUSEHOLD.rows(engine, {"person": person_id})
    if not rows:
        return None, []
    return rows[0][0], [HouseholdChild(name, birth, count) for _, name, birth, count in rows if name is not None]


# The rule set compiled from what a municipality publishes, kept as long as offered() keeps that list (the same
# list object: at most OFFERED_TTL seconds, see offerings.py), so ぴったり never re-reads 2,000 procedures' rules.
_compiled: dict[str, tuple[list[Offered], RuleSet]] = {}


def _rule_set(municipality: str, published: list[Offered]) -> RuleSet:
    kept = _compiled.get(municipality)
    if kept is not None and kept[0] is published:
        return kept[1]
    rule_set = compile_rules([o.procedure for o in published])
    _compiled[municipality] = (published, rule_set)
    return rule_set


async def pittari(session_factory: async_sessionmaker[AsyncSession], person_id: uuid.UUID,
                  today: date) -> list[Fit]:
    municipality, children = await household(session_factory.kw["bind"], person_id)
    if municipality is None or not children:
        return []
    async with session_factory() as session:
        published = await offered(session, municipality)
    return fit_rules(_rule_set(municipality, published), children, today)
