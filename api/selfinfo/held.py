"""What agencies hold about the person: their copies (副本), grouped as the portal groups them, each with its
provenance (the providing agency, when it was last updated, the legal basis), as Myinfo carries ``source`` and
``lastupdated`` per attribute.

Reading them is itself an exchange on the person's record: one exchange record per providing agency, the portal
(情報提供等記録開示システム, run by デジタル庁) as the requester, written in the read's own transaction. Copies are
found by the person's internal id; no agency's code for the person is read or shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency, AgencyKind
from api.exchange.legal_table import legal_table
from api.exchange.models import ExchangeCopy, ExchangeRecord
from api.exchange.record import exchange_record_leaf
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import RECORDS_READ
from api.proxies.service import acting_for
from api.records.log import queue_leaf
from api.selfinfo.groups import GROUP_TITLES, InfoGroup, group_of

PORTAL_AGENCY_SLUG = "digital-agency"
PORTAL_AGENCY_NAME = "デジタル庁"
SELF_INFO_DUTY = "自己情報表示"


@dataclass(frozen=True)
class LegalBasis:
    row_id: str
    text: str


@dataclass(frozen=True)
class HeldItem:
    id: uuid.UUID  # the copy's id: what a correction request names
    kind: str
    kind_name: str  # the law's name of the data kind (地方税関係情報 …)
    key: str
    value: dict[str, Any]
    group: InfoGroup
    provider: Agency
    updated_at: datetime
    legal_basis: tuple[LegalBasis, ...]


@dataclass(frozen=True)
class HeldGroup:
    group: InfoGroup
    title: str
    items: list[HeldItem]


def legal_basis(kind: str, provider_kind: AgencyKind) -> tuple[LegalBasis, ...]:
    """The rows of the exchange table under which this provider provides this kind of data."""
    return tuple(LegalBasis(row.id, row.text) for row in legal_table().rows
                 if kind in row.items and provider_kind in row.provider_kinds)


async def portal_agency(session: AsyncSession) -> Agency:
    """The portal's own agency: the requester of its reads (made on first use where the data has none)."""
    agency = await session.scalar(select(Agency).where(Agency.slug == PORTAL_AGENCY_SLUG))
    if agency is None:
        agency = Agency(slug=PORTAL_AGENCY_SLUG, name=PORTAL_AGENCY_NAME, kind=AgencyKind.MINISTRY)
        session.add(agency)
        await session.flush()
    return agency


async def may_act(session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, *, today: date,
                  purpose: str) -> None:
    """The person, a parent of a minor child, or a proxy with records:read; a read for someone else is recorded."""
    if await acting_for(session, actor_id, subject_id, RECORDS_READ, today=today, purpose=purpose) is None:
        raise PortalError(ErrorCode.NOT_AUTHORIZED_FOR_PERSON, "You may not see this person's information.")


async def held_items(session: AsyncSession, subject_id: uuid.UUID) -> list[HeldItem]:
    copies = list(await session.scalars(select(ExchangeCopy).where(ExchangeCopy.person_id == subject_id)
                                        .order_by(ExchangeCopy.item_kind, ExchangeCopy.item_key, ExchangeCopy.id)))
    agency_ids = {copy.provider_agency_id for copy in copies}
    agencies = {a.id: a for a in await session.scalars(select(Agency).where(Agency.id.in_(agency_ids)))} \
        if agency_ids else {}
    names = legal_table().items
    return [HeldItem(id=copy.id, kind=copy.item_kind, kind_name=names.get(copy.item_kind, copy.item_kind),
                     key=copy.item_key, value=copy.value, group=group_of(copy.item_kind),
                     provider=agencies[copy.provider_agency_id], updated_at=copy.updated_at,
                     legal_basis=legal_basis(copy.item_kind, agencies[copy.provider_agency_id].kind))
            for copy in copies]


def grouped(items: list[HeldItem]) -> list[HeldGroup]:
    """Every group in the portal's order (empty ones too: the app shows what is not held)."""
    return [HeldGroup(group, GROUP_TITLES[group], [item for item in items if item.group is group])
            for group in InfoGroup]


async def record_portal_read(session: AsyncSession, subject_id: uuid.UUID, items: list[HeldItem], *,
                             duty: str = SELF_INFO_DUTY) -> list[ExchangeRecord]:
    """One exchange record per providing agency: the portal read these kinds of the person's data from it."""
    portal = await portal_agency(session)
    now = utcnow()
    by_provider: dict[uuid.UUID, set[str]] = {}
    for item in items:
        by_provider.setdefault(item.provider.id, set()).add(item.kind)
    records = [ExchangeRecord(requester_agency_id=portal.id, provider_agency_id=provider, person_id=subject_id,
                              duty=duty, item_names=sorted(kinds), legal_row_id=None,
                              legal_table_version=legal_table().version, requested_at=now, provided_at=now,
                              processing_type="copy", outcome="provided")
               for provider, kinds in sorted(by_provider.items())]
    session.add_all(records)
    await session.flush()
    await append_to_log(session, records)
    return records


async def append_to_log(session: AsyncSession, records: list[ExchangeRecord]) -> None:
    """Each record's leaf goes to the transparency log in the record's own transaction, as the hub's do."""
    for record in records:
        record.log_leaf_id = await queue_leaf(session, exchange_record_leaf(record))


async def read_information(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID,
                           subject_id: uuid.UUID, *, today: date) -> list[HeldGroup]:
    """The subject's information, grouped, as the actor may see it; the read goes on the subject's record."""
    async with session_factory() as session, session.begin():
        await may_act(session, actor_id, subject_id, today=today, purpose="selfinfo:read")
        items = await held_items(session, subject_id)
        await record_portal_read(session, subject_id, items)
    return grouped(items)
