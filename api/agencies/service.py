"""Agency rules: the public list of agencies and each agency's own code for a person.

A code is only ever looked up within one agency: there is deliberately no function that maps one
agency's code to another's (that is the exchange service's job, with its legal table and its record).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency, AgencyPersonCode
from api.platform.pagination import InvalidPageRequest, Page, PageRequest, page_of


async def assign_code(session: AsyncSession, agency_id: uuid.UUID, person_id: uuid.UUID) -> str:
    """The person's code at this agency, created on first use (random: nothing to correlate)."""
    existing = await session.scalar(
        select(AgencyPersonCode.code).where(AgencyPersonCode.agency_id == agency_id,
                                            AgencyPersonCode.person_id == person_id)
    )
    if existing is not None:
        return existing
    for _ in range(3):
        code = secrets.token_hex(16)
        try:
            async with session.begin_nested():
                session.add(AgencyPersonCode(agency_id=agency_id, person_id=person_id, code=code))
                await session.flush()
        except IntegrityError:
            continue  # a collision (or a concurrent assignment): read again below
        return code
    existing = await session.scalar(
        select(AgencyPersonCode.code).where(AgencyPersonCode.agency_id == agency_id,
                                            AgencyPersonCode.person_id == person_id)
    )
    if existing is None:
        raise RuntimeError("could not assign an agency code")
    return existing


async def person_for_code(session: AsyncSession, agency_id: uuid.UUID, code: str) -> uuid.UUID | None:
    return await session.scalar(
        select(AgencyPersonCode.person_id).where(AgencyPersonCode.agency_id == agency_id,
                                                 AgencyPersonCode.code == code)
    )


async def agencies_by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Agency]:
    rows = await session.scalars(select(Agency).where(Agency.id.in_(ids)))
    return {agency.id: agency for agency in rows}


async def agencies_page(session: AsyncSession, request: PageRequest) -> Page[Agency]:
    query = select(Agency).order_by(Agency.slug).limit(request.first + 1)
    if request.after is not None:
        if len(request.after) != 1:
            raise InvalidPageRequest("the cursor is not valid")
        query = query.where(Agency.slug > request.after[0])
    rows = list(await session.scalars(query))
    return page_of(rows, request, key=lambda agency: (agency.slug,))


async def list_agencies(read_session_factory: async_sessionmaker[AsyncSession], request: PageRequest) -> Page[Agency]:
    """Agencies in the order of their slug (public facts)."""
    async with read_session_factory() as session:
        return await agencies_page(session, request)
