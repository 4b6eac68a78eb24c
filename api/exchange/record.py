"""The exchange record (番号法 Art. 23 + Estonia's Data Tracker): its canonical leaf bytes and the requester's list.

A record names both agencies, the duty, the item kinds (never values), the legal-table row and version, both
times, the query id that joins both sides, the processing type and any deferred disclosure.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency
from api.exchange.models import ExchangeRecord
from api.platform.pagination import InvalidPageRequest, Page, PageRequest, page_of

LEAF_VERSION = 1


def _time(value: datetime | None) -> str | None:
    # One spelling for every instant: UTC, microseconds, "Z" (the leaf's bytes must not depend on the driver).
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def leaf_fields(record: ExchangeRecord) -> dict[str, Any]:
    return {
        "v": LEAF_VERSION,
        "id": _uuid(record.id),
        "queryId": _uuid(record.query_id),
        "requester": _uuid(record.requester_agency_id),
        "provider": _uuid(record.provider_agency_id),
        "person": _uuid(record.person_id),
        "duty": record.duty,
        "items": sorted(record.item_names),
        "legalRow": record.legal_row_id,
        "legalTableVersion": record.legal_table_version,
        "requestedAt": _time(record.requested_at),
        "providedAt": _time(record.provided_at),
        "processingType": record.processing_type,
        "outcome": record.outcome,
        "refusalCode": record.refusal_code,
        "hiddenUntil": _time(record.hidden_until),
        "hiddenReason": record.hidden_reason,
    }


def exchange_record_leaf(record: ExchangeRecord) -> bytes:
    """The record's canonical bytes for the transparency log (RFC 8785-style: sorted keys, no spaces, UTF-8).

    Only names, ids and times: a value exchanged is never part of a record, so never of the log.
    """
    return json.dumps(leaf_fields(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_json(record: ExchangeRecord, agencies: dict[uuid.UUID, str]) -> dict[str, Any]:
    """A record as the requester's API shows it (agencies by slug; the person is not named: the requester
    knows whom it asked about, and the record must not become a way to look codes up)."""
    fields = leaf_fields(record)
    fields.pop("v")
    fields.pop("person")
    fields["requester"] = agencies.get(record.requester_agency_id)
    fields["provider"] = agencies.get(record.provider_agency_id) if record.provider_agency_id else None
    return fields


async def requester_records(
    read_session_factory: async_sessionmaker[AsyncSession], agency_id: uuid.UUID, request: PageRequest
) -> tuple[Page[ExchangeRecord], dict[uuid.UUID, str]]:
    """The exchange records of this agency's own requests, newest first, and the slugs of the agencies named."""
    query = (select(ExchangeRecord).where(ExchangeRecord.requester_agency_id == agency_id)
             .order_by(ExchangeRecord.requested_at.desc(), ExchangeRecord.id.desc()).limit(request.first + 1))
    if request.after is not None:
        try:
            at, last = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
        except (ValueError, IndexError) as error:
            raise InvalidPageRequest("the cursor is not valid") from error
        query = query.where(or_(ExchangeRecord.requested_at < at,
                                and_(ExchangeRecord.requested_at == at, ExchangeRecord.id < last)))
    async with read_session_factory() as session:
        rows = list(await session.scalars(query))
        page = page_of(rows, request, key=lambda r: (r.requested_at.isoformat(), str(r.id)))
        ids = {r.requester_agency_id for r in rows} | {r.provider_agency_id for r in rows if r.provider_agency_id}
        slugs = dict((await session.execute(select(Agency.id, Agency.slug).where(Agency.id.in_(ids)))).all()) \
            if ids else {}
    return page, slugs

