"""The person's export: everything held about them and their whole record, as one JSON document kept as a row.

The document is made in one transaction with the read it records (an exchange per providing agency, the portal
as requester), listed for the person, and served only to those who may read the person's information.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.history.entries import Entry, RecordFilter, record_page
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import MAX_PAGE_SIZE, PageRequest, decode_cursor
from api.selfinfo.held import HeldGroup, grouped, held_items, may_act, record_portal_read
from api.selfinfo.models import SelfInfoExport

SessionFactory = async_sessionmaker[AsyncSession]
FORMAT = "mynaportal-selfinfo-export/1"
MAX_LISTED = 100


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def entry_json(entry: Entry) -> dict[str, Any]:
    exchange, access = entry.exchange, entry.access
    names = {agency_id: agency.name for agency_id, agency in entry.agencies.items()}
    shaped: dict[str, Any] = {"id": entry.key, "kind": entry.kind.value, "at": _time(entry.at)}
    if exchange is not None:
        shaped.update(requester=names.get(exchange.requester_agency_id),
                      provider=names.get(exchange.provider_agency_id) if exchange.provider_agency_id else None,
                      duty=exchange.duty, items=list(exchange.item_names), legalBasis=exchange.legal_row_id,
                      legalTableVersion=exchange.legal_table_version, providedAt=_time(exchange.provided_at),
                      processingType=exchange.processing_type, outcome=exchange.outcome,
                      refusalCode=exchange.refusal_code, queryId=str(exchange.query_id))
    if access is not None:
        shaped.update(actorPersonId=str(access.actor_person_id) if access.actor_person_id else None,
                      operator=access.actor_operator, purpose=access.purpose)
    return shaped


def groups_json(groups: list[HeldGroup]) -> list[dict[str, Any]]:
    return [{"group": g.group.value, "title": g.title, "items": [{
        "id": str(item.id), "kind": item.kind, "kindName": item.kind_name, "key": item.key, "value": item.value,
        "source": item.provider.name, "lastUpdated": _time(item.updated_at),
        "legalBasis": [{"row": basis.row_id, "text": basis.text} for basis in item.legal_basis],
    } for item in g.items]} for g in groups]


async def whole_record(session: AsyncSession, subject_id: uuid.UUID, now: datetime) -> list[Entry]:
    entries: list[Entry] = []
    after: tuple[str, ...] | None = None
    while True:
        page = await record_page(session, subject_id, PageRequest(MAX_PAGE_SIZE, after), RecordFilter(), now=now)
        entries.extend(entry for _, entry in page.items)
        if not page.has_next_page:
            return entries
        after = decode_cursor(page.items[-1][0])


async def make_export(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID, *,
                      today: date) -> SelfInfoExport:
    async with session_factory() as session, session.begin():
        await may_act(session, actor_id, subject_id, today=today, purpose="selfinfo:export")
        now = utcnow()
        items = await held_items(session, subject_id)
        await record_portal_read(session, subject_id, items, duty="自己情報の書き出し")
        document = {"format": FORMAT, "personId": str(subject_id), "generatedAt": _time(now),
                    "information": groups_json(grouped(items)),
                    "record": [entry_json(entry) for entry in await whole_record(session, subject_id, now)]}
        text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        export = SelfInfoExport(person_id=subject_id, requested_by_person_id=actor_id, created_at=now,
                                size=len(text.encode()), sha256=hashlib.sha256(text.encode()).hexdigest(),
                                document=text)
        session.add(export)
        await session.flush()
    return export


async def list_exports(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID, *,
                       today: date) -> list[SelfInfoExport]:
    """The subject's exports, newest first (at most MAX_LISTED), without loading their documents' text twice."""
    async with session_factory() as session, session.begin():
        await may_act(session, actor_id, subject_id, today=today, purpose="selfinfo:exports")
        return list(await session.scalars(select(SelfInfoExport).where(SelfInfoExport.person_id == subject_id)
                                          .order_by(SelfInfoExport.created_at.desc(), SelfInfoExport.id.desc())
                                          .limit(MAX_LISTED)))


async def export_document(session_factory: SessionFactory, actor_id: uuid.UUID, export_id: uuid.UUID, *,
                          today: date) -> SelfInfoExport:
    """One export, to whoever may read its person's information (the same NOT_FOUND for any other)."""
    async with session_factory() as session, session.begin():
        export = await session.get(SelfInfoExport, export_id)
        if export is None:
            raise PortalError(ErrorCode.NOT_FOUND, "No such export.")
        try:
            await may_act(session, actor_id, export.person_id, today=today, purpose="selfinfo:export-read")
        except PortalError as refused:
            raise PortalError(ErrorCode.NOT_FOUND, "No such export.") from refused
    return export
