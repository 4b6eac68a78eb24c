"""Units of work on proxy grants: list, grant, revoke, and read a profile as a proxy; one transaction each.

Grants come back with the two people's names, as their principal and proxy see them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.people.models import Person
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PROFILE_READ
from api.proxies.models import ProxyGrant
from api.proxies.service import accept_grant, acting_for, grants_given, grants_received, invite_proxy, revoke_grant

SessionFactory = async_sessionmaker[AsyncSession]
MAX_LISTED = 100


@dataclass(frozen=True)
class GrantView:
    grant: ProxyGrant
    principal_name: str
    proxy_name: str | None  # None until the invited person accepts: the granter sees only the address
    active: bool

    @property
    def pending(self) -> bool:
        return self.grant.proxy_person_id is None


async def _views(session: AsyncSession, grants: Sequence[ProxyGrant], today: date) -> list[GrantView]:
    ids = {g.principal_person_id for g in grants} | {g.proxy_person_id for g in grants if g.proxy_person_id}
    names = dict((await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))).all()) \
        if ids else {}
    return [GrantView(g, names.get(g.principal_person_id, ""),
                      names.get(g.proxy_person_id, "") if g.proxy_person_id else None,
                      active=g.proxy_person_id is not None and g.revoked_at is None and g.valid_until >= today)
            for g in grants]


async def given(read_session_factory: SessionFactory, principal_id: uuid.UUID, today: date) -> list[GrantView]:
    """Grants the person gave, oldest first (at most MAX_LISTED)."""
    async with read_session_factory() as session:
        return await _views(session, (await grants_given(session, principal_id))[:MAX_LISTED], today)


async def received(read_session_factory: SessionFactory, proxy_id: uuid.UUID, today: date) -> list[GrantView]:
    async with read_session_factory() as session:
        return await _views(session, (await grants_received(session, proxy_id))[:MAX_LISTED], today)


async def grant(session_factory: SessionFactory, principal_id: uuid.UUID, *, proxy_email: str,
                scopes: Sequence[str], valid_until: date, today: date) -> GrantView:
    """The principal (acting as themself) invites the holder of this address: a pending grant, the same whether
    or not the address is registered (api.proxies.service.invite_proxy)."""
    async with session_factory() as session, session.begin():
        made = await invite_proxy(session, principal_id=principal_id, proxy_email=proxy_email, scopes=scopes,
                                  valid_until=valid_until, today=today)
        [view] = await _views(session, [made], today)
    return view


async def accept(session_factory: SessionFactory, proxy_id: uuid.UUID, grant_id: uuid.UUID,
                 today: date) -> GrantView:
    """The invited person accepts a grant made to their registered address."""
    async with session_factory() as session, session.begin():
        accepted = await accept_grant(session, proxy_id=proxy_id, grant_id=grant_id)
        [view] = await _views(session, [accepted], today)
    return view


async def revoke(session_factory: SessionFactory, principal_id: uuid.UUID, grant_id: uuid.UUID,
                 today: date) -> GrantView:
    async with session_factory() as session, session.begin():
        revoked = await revoke_grant(session, principal_id=principal_id, grant_id=grant_id)
        [view] = await _views(session, [revoked], today)
    return view


async def profile_as_proxy(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID,
                           today: date) -> Person:
    """The subject's profile, read by a parent (minor child) or a proxy with profile:read; recorded."""
    async with session_factory() as session, session.begin():
        acting = await acting_for(session, actor_id, subject_id, PROFILE_READ, today=today, purpose="proxy:profile")
        person = await session.get(Person, subject_id) if acting else None
    if person is None:
        raise PortalError(ErrorCode.NOT_AUTHORIZED_FOR_PERSON, "You may not act for this person with this right.")
    return person
