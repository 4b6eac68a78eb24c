"""Reading the person's record: exchange records and access records merged, newest first, by keyset.

Each source is read by its own (person, time) index, limited to one page plus one row, and the two short lists
are merged by (time, source, id): a 20-row page reads at most 42 index entries, however long the record is.

An exchange an agency may withhold for a time (``hidden_until`` in the future, 不開示) is left out entirely
until the date passes: no placeholder, no count, nothing that tells it exists.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Index, Select, and_, bindparam, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.agencies.models import Agency
from api.exchange.models import ExchangeRecord
from api.platform.access_records import AccessRecord
from api.platform.db import PointRead
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import InvalidPageRequest, Page, PageRequest, page_of

EXCHANGE, ACCESS = "e", "a"  # the sources, in cursor order
MAX_DUTY = 200
# The purge's indexes, by time alone, declared here on the tables of their owners (the page uses the owners'
# (person, time) indexes).
EXCHANGE_TIME = Index("ix_exchange_records_requested_at", ExchangeRecord.requested_at)
ACCESS_TIME = Index("ix_access_records_accessed_at", AccessRecord.accessed_at)


class EntryKind(enum.StrEnum):
    EXCHANGE = "exchange"  # agencies exchanged the person's data (the portal's own reads included)
    PROXY_READ = "proxy-read"  # a proxy or a parent read the person's data
    STAFF_ACCESS = "staff-access"  # a named operator of the portal acted on the person's record


@dataclass(frozen=True)
class RecordFilter:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    agency_id: uuid.UUID | None = None  # the requester or the provider
    duty: str | None = None  # the exchange's duty (事務), exactly
    kinds: frozenset[EntryKind] = field(default_factory=frozenset)  # empty: every kind

    def check(self) -> RecordFilter:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "The period must end after it starts.",
                              extensions={"field": "until"})
        if self.duty is not None and not 1 <= len(self.duty) <= MAX_DUTY:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"The duty must have 1 to {MAX_DUTY} characters.",
                              extensions={"field": "duty"})
        return self

    def wants(self, kind: EntryKind) -> bool:
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True)
class Entry:
    """One line of the record; an exchange or an access, never both."""

    kind: EntryKind
    at: datetime
    source: str
    id: uuid.UUID
    subject_id: uuid.UUID
    exchange: ExchangeRecord | None = None
    access: AccessRecord | None = None
    agencies: dict[uuid.UUID, Agency] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.id}"


def _after(at: ColumnElement[datetime], ident: ColumnElement[uuid.UUID], source: str,
           cursor: tuple[datetime, str, uuid.UUID] | None) -> ColumnElement[bool]:
    """Rows after the cursor in (time DESC, source DESC, id DESC) order, as this source's index can seek."""
    if cursor is None:
        return true()
    c_at, c_source, c_id = cursor
    if source < c_source:
        return at <= c_at
    if source > c_source:
        return at < c_at
    return or_(at < c_at, and_(at == c_at, ident < c_id))


def _parse_cursor(request: PageRequest) -> tuple[datetime, str, uuid.UUID] | None:
    if request.after is None:
        return None
    try:
        at, source, ident = request.after
        if source not in (EXCHANGE, ACCESS):
            raise ValueError(source)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError(at)
        return when, source, uuid.UUID(ident)
    except ValueError as error:  # signed by us, but from another kind of connection
        raise InvalidPageRequest("the cursor is not valid") from error


def _exchange_rows(subject_id: uuid.UUID, filters: RecordFilter, now: datetime,
                   cursor: tuple[datetime, str, uuid.UUID] | None, limit: int) -> Select | None:
    if not filters.wants(EntryKind.EXCHANGE):
        return None
    at = ExchangeRecord.requested_at
    conditions: list[ColumnElement[bool]] = [
        ExchangeRecord.person_id == subject_id,
        or_(ExchangeRecord.hidden_until.is_(None), ExchangeRecord.hidden_until <= now),
        _after(at, ExchangeRecord.id, EXCHANGE, cursor),
    ]
    if filters.since is not None:
        conditions.append(at >= filters.since)
    if filters.until is not None:
        conditions.append(at < filters.until)
    if filters.agency_id is not None:
        conditions.append(or_(ExchangeRecord.requester_agency_id == filters.agency_id,
                              ExchangeRecord.provider_agency_id == filters.agency_id))
    if filters.duty is not None:
        conditions.append(ExchangeRecord.duty == filters.duty)
    return select(ExchangeRecord).where(*conditions).order_by(at.desc(), ExchangeRecord.id.desc()).limit(limit)


def _access_rows(subject_id: uuid.UUID, filters: RecordFilter,
                 cursor: tuple[datetime, str, uuid.UUID] | None, limit: int) -> Select | None:
    kinds = [kind for kind in (EntryKind.PROXY_READ, EntryKind.STAFF_ACCESS) if filters.wants(kind)]
    # Reads by people and operators concern no agency and no duty.
    if not kinds or filters.agency_id is not None or filters.duty is not None:
        return None
    at = AccessRecord.accessed_at
    conditions: list[ColumnElement[bool]] = [
        AccessRecord.subject_person_id == subject_id,
        _after(at, AccessRecord.id, ACCESS, cursor),
    ]
    if len(kinds) == 1:
        conditions.append(AccessRecord.actor_person_id.is_not(None) if kinds[0] is EntryKind.PROXY_READ
                          else AccessRecord.actor_operator.is_not(None))
    if filters.since is not None:
        conditions.append(at >= filters.since)
    if filters.until is not None:
        conditions.append(at < filters.until)
    return select(AccessRecord).where(*conditions).order_by(at.desc(), AccessRecord.id.desc()).limit(limit)


async def record_page(session: AsyncSession, subject_id: uuid.UUID, request: PageRequest, filters: RecordFilter,
                      *, now: datetime) -> Page[Entry]:
    """A page of the subject's record, newest first (the caller checked who may read it)."""
    cursor = _parse_cursor(request)
    limit = request.first + 1
    exchanges_query = _exchange_rows(subject_id, filters, now, cursor, limit)
    access_query = _access_rows(subject_id, filters, cursor, limit)
    exchanges = list(await session.scalars(exchanges_query)) if exchanges_query is not None else []
    accesses = list(await session.scalars(access_query)) if access_query is not None else []
    agency_ids = {a for row in exchanges for a in (row.requester_agency_id, row.provider_agency_id) if a}
    agencies = {agency.id: agency for agency in await session.scalars(
        select(Agency).where(Agency.id.in_(agency_ids)))} if agency_ids else {}
    entries = [Entry(EntryKind.EXCHANGE, row.requested_at, EXCHANGE, row.id, subject_id, exchange=row,
                     agencies=agencies) for row in exchanges]
    entries += [Entry(EntryKind.PROXY_READ if row.actor_person_id is not None else EntryKind.STAFF_ACCESS,
                      row.accessed_at, ACCESS, row.id, subject_id, access=row) for row in accesses]
    # Each source came sorted by its index: the merge of two short lists (UUIDs order as the databases do).
    entries.sort(key=lambda entry: (entry.at, entry.source, entry.id), reverse=True)
    return page_of(entries[:limit], request,
                   key=lambda entry: (entry.at.isoformat(), entry.source, str(entry.id)))


# The hot path: the person's own record, unfiltered, as the app opens it. A PointRead (api.platform.db) runs on a
# kept connection, where psycopg prepares the statement once it has run a few times: PostgreSQL then keeps one
# generic plan instead of planning over every month partition on each read (tens of ms at 90 partitions).
def _point_read(model: type, at: Any, ident: Any, person: Any, variant: str, hidden: bool) -> PointRead:
    conditions: list[ColumnElement[bool]] = [person == bindparam("person")]
    if hidden:
        conditions.append(or_(ExchangeRecord.hidden_until.is_(None), ExchangeRecord.hidden_until <= bindparam("now")))
    if variant == "le":
        conditions.append(at <= bindparam("at"))
    elif variant == "lt":
        conditions.append(at < bindparam("at"))
    elif variant == "same":
        conditions.append(or_(at < bindparam("at"), and_(at == bindparam("at"), ident < bindparam("ident"))))
    columns = list(model.__table__.columns)  # type: ignore[attr-defined]
    return PointRead(select(*columns).where(*conditions).order_by(at.desc(), ident.desc())
                     .limit(bindparam("limit")).offset(bindparam("offset")))  # SQLite's LIMIT needs an OFFSET


_VARIANTS = ("first", "le", "lt", "same")
_EXCHANGE_READS = {v: _point_read(ExchangeRecord, ExchangeRecord.requested_at, ExchangeRecord.id,
                                  ExchangeRecord.person_id, v, True) for v in _VARIANTS}
_ACCESS_READS = {v: _point_read(AccessRecord, AccessRecord.accessed_at, AccessRecord.id,
                                AccessRecord.subject_person_id, v, False) for v in _VARIANTS}


def _variant(source: str, cursor: tuple[datetime, str, uuid.UUID] | None) -> str:
    if cursor is None:
        return "first"
    return "le" if source < cursor[1] else "lt" if source > cursor[1] else "same"


def _rows(model: type, rows: list[tuple[Any, ...]]) -> list[Any]:
    names = [column.key for column in model.__table__.columns]  # type: ignore[attr-defined]
    return [model(**dict(zip(names, row, strict=True))) for row in rows]


async def own_record_page(engine: AsyncEngine, subject_id: uuid.UUID, request: PageRequest, *,
                          now: datetime) -> Page[Entry]:
    """``record_page`` without filters by point reads (no transaction: the person reading their own record writes
    nothing). Entries carry no agencies: callers load them (the GraphQL layer batches them)."""
    cursor = _parse_cursor(request)
    limit = request.first + 1
    params: dict[str, Any] = {"person": subject_id, "now": now, "limit": limit, "offset": 0}
    if cursor is not None:
        params.update(at=cursor[0], ident=cursor[2])
    exchanges = _rows(ExchangeRecord, await _EXCHANGE_READS[_variant(EXCHANGE, cursor)].rows(engine, params))
    accesses = _rows(AccessRecord, await _ACCESS_READS[_variant(ACCESS, cursor)].rows(
        engine, {key: value for key, value in params.items() if key != "now"}))
    entries = [Entry(EntryKind.EXCHANGE, row.requested_at, EXCHANGE, row.id, subject_id, exchange=row)
               for row in exchanges]
    entries += [Entry(EntryKind.PROXY_READ if row.actor_person_id is not None else EntryKind.STAFF_ACCESS,
                      row.accessed_at, ACCESS, row.id, subject_id, access=row) for row in accesses]
    entries.sort(key=lambda entry: (entry.at, entry.source, entry.id), reverse=True)
    return page_of(entries[:limit], request,
                   key=lambda entry: (entry.at.isoformat(), entry.source, str(entry.id)))
