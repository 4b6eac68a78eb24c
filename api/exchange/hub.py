"""The hub (情報提供ネットワークシステム): code mapping, the legal check, the answer, and the record.

A requester names the person by its own code; the hub finds the person, finds the provider's code, checks the
legal table, answers from the provider's copies (as the 中間サーバー does) or asks the provider's live endpoint
with the provider's code, and writes one exchange record. No agency ever sees another's code or the individual
number. A refused request is recorded too (with its stable code) before it is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from api.agencies.models import Agency, AgencyKind, AgencyPersonCode
from api.exchange.items import check_item
from api.exchange.legal_table import LegalRow, legal_table
from api.exchange.models import ExchangeCopy, ExchangeEndpoint, ExchangeRecord
from api.exchange.record import exchange_record_leaf
from api.platform.db import PointRead, new_id, utcnow
from api.platform.errors import ErrorCode, PortalError
from api.records import log

# Where each record's leaf goes, in the record's own transaction (the connection given is inside it).
LeafSink = Callable[[AsyncConnection, bytes], Awaitable[object]]


async def append_to_log(connection: AsyncConnection, leaf: bytes) -> int:
    """The transparency log (api.records): a pending leaf, sequenced and signed later by `records sequence`."""
    # queue_leaf runs one Core INSERT through ``execute``, which a connection offers as a session does.
    return await log.queue_leaf(connection, leaf)  # type: ignore[arg-type]
LIVE_TIMEOUT_SECONDS = 5.0
# The longest an agency may withhold an entry from the person: the record's own retention (7 years).
MAX_HIDDEN = timedelta(days=7 * 366)


@dataclass(frozen=True)
class ExchangeRequest:
    person_code: str  # the requester's own code for the person
    duty: str
    provider: str  # the provider agency's slug
    items: tuple[str, ...]
    hidden_until: datetime | None = None
    hidden_reason: str | None = None


@dataclass(frozen=True)
class ProvidedItem:
    kind: str
    key: str
    value: dict[str, Any]


@dataclass(frozen=True)
class ExchangeAnswer:
    record: ExchangeRecord
    row: LegalRow
    provider_slug: str
    items: list[ProvidedItem] = field(default_factory=list)
    not_held: list[str] = field(default_factory=list)


_PROVIDER = aliased(Agency)
_REQUESTER_CODE = aliased(AgencyPersonCode)
_PROVIDER_CODE = aliased(AgencyPersonCode)
# One read: the requester's kind, the provider, the person behind the requester's code, the provider's code for
# that person (the mapping happens here and nowhere else), and whether the provider answers anything live.
_MAPPING = PointRead(
    select(Agency.kind, _PROVIDER.id, _PROVIDER.kind, _REQUESTER_CODE.person_id, _PROVIDER_CODE.code,
           select(func.count()).where(ExchangeEndpoint.provider_agency_id == _PROVIDER.id)
           .correlate(_PROVIDER).scalar_subquery())
    .select_from(Agency)
    .outerjoin(_PROVIDER, _PROVIDER.slug == bindparam("provider"))
    .outerjoin(_REQUESTER_CODE, (_REQUESTER_CODE.agency_id == Agency.id) & (_REQUESTER_CODE.code == bindparam("code")))
    .outerjoin(_PROVIDER_CODE, (_PROVIDER_CODE.agency_id == _PROVIDER.id)
               & (_PROVIDER_CODE.person_id == _REQUESTER_CODE.person_id))
    .where(Agency.id == bindparam("requester")))
# Every copy the provider holds of the person (a handful), filtered to the items asked for in Python.
_COPIES = PointRead(
    select(ExchangeCopy.item_kind, ExchangeCopy.item_key, ExchangeCopy.value)
    .where(ExchangeCopy.provider_agency_id == bindparam("provider"), ExchangeCopy.person_id == bindparam("person"))
    .order_by(ExchangeCopy.item_kind, ExchangeCopy.item_key))
_ENDPOINTS = PointRead(
    select(ExchangeEndpoint.item_kind, ExchangeEndpoint.url)
    .where(ExchangeEndpoint.provider_agency_id == bindparam("provider")))


_RECORD_COLUMNS = tuple(ExchangeRecord.__table__.columns)
_INSERT_RECORD = insert(ExchangeRecord)


class ExchangeRefused(PortalError):
    """A refusal that is already on the record (``record_id``)."""

    def __init__(self, code: ErrorCode, message: str, record: ExchangeRecord) -> None:
        super().__init__(code, message, extensions={"queryId": str(record.query_id)})
        self.record = record


def _check_request(request: ExchangeRequest) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(request.items))
    if not items or len(items) > 20:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "Ask for 1 to 20 item kinds.", extensions={"field": "items"})
    if any(not isinstance(item, str) or not 0 < len(item) <= 64 for item in items):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "Item kinds are texts.", extensions={"field": "items"})
    if not 0 < len(request.duty) <= 64 or not 0 < len(request.provider) <= 64 or not 0 < len(request.person_code) <= 64:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "duty, provider and personCode are 1 to 64 characters.")
    if (request.hidden_until is None) != (request.hidden_reason is None):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "hiddenUntil and hiddenReason go together.",
                          extensions={"field": "hiddenReason"})
    if request.hidden_until is not None:
        now = utcnow()
        if request.hidden_until.tzinfo is None or not now < request.hidden_until <= now + MAX_HIDDEN:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "hiddenUntil must be a future time with its offset, "
                              "at most 7 years ahead.", extensions={"field": "hiddenUntil"})
        if not 0 < len(request.hidden_reason or "") <= 500:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "hiddenReason is 1 to 500 characters.",
                              extensions={"field": "hiddenReason"})
    return items


class Hub:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *, leaf_sink: LeafSink | None = append_to_log,
                 http: httpx.AsyncClient | None = None) -> None:
        self._session_factory = session_factory
        self._engine: AsyncEngine = session_factory.kw["bind"]
        self._leaf_sink = leaf_sink
        self._http = http

    async def request(self, requester_id: uuid.UUID, request: ExchangeRequest) -> ExchangeAnswer:
        """The answer; ExchangeRefused (already recorded and committed) when the hub refuses.

        The reads (mapping, copies) are single statements on kept connections (``PointRead``); the record is
        written in its own transaction, and the answer leaves only once that has committed: no answer without
        its record, and every refusal is on the record before the requester hears of it.
        """
        items = _check_request(request)
        outcome = await self._exchange(requester_id, request, items)
        await self._write(outcome.record)
        if isinstance(outcome, ExchangeRefused):
            raise outcome
        return outcome

    async def _exchange(self, requester_id: uuid.UUID, request: ExchangeRequest,
                        items: tuple[str, ...]) -> ExchangeAnswer | ExchangeRefused:
        table = legal_table()
        requested_at = utcnow()
        found = await _MAPPING.first(self._engine, {"provider": request.provider, "code": request.person_code,
                                                    "requester": requester_id})
        if found is None:
            raise LookupError("the requesting agency does not exist")
        requester_kind, provider_id, provider_kind, person_id, provider_person_code, live_count = found
        record = ExchangeRecord(
            id=new_id(), query_id=new_id(), requester_agency_id=requester_id, provider_agency_id=provider_id,
            person_id=person_id, duty=request.duty, item_names=list(items), legal_row_id=None,
            legal_table_version=table.version, requested_at=requested_at, provided_at=None,
            processing_type="refused", outcome="refused", refusal_code=None,
            hidden_until=request.hidden_until, hidden_reason=request.hidden_reason)

        def refuse(code: ErrorCode, message: str, outcome: str = "refused") -> ExchangeRefused:
            record.outcome, record.refusal_code = outcome, code.value
            if outcome == "failed":  # the table allowed it; the provider's live system failed
                record.processing_type = "live"
            return ExchangeRefused(code, message, record)

        if provider_id is None:
            return refuse(ErrorCode.EXCHANGE_PROVIDER_UNKNOWN, "No agency has this slug.")
        if person_id is None:
            return refuse(ErrorCode.EXCHANGE_PERSON_UNKNOWN, "Your agency has no person with this code.")
        # An agency reads its own data in its own systems, never through the network.
        row = table.row_for(request.duty, AgencyKind(requester_kind), AgencyKind(provider_kind),
                            frozenset(items), request.provider) if provider_id != requester_id else None
        if row is None:
            return refuse(ErrorCode.EXCHANGE_NOT_PERMITTED,
                          "The legal table (別表第二) allows no such exchange: this duty, these agencies, these items.")
        record.legal_row_id, record.legal_table_version = row.id, row.version
        live: dict[str, str] = {}
        if live_count and provider_person_code is not None:
            live = {kind: url for kind, url in await _ENDPOINTS.rows(self._engine, {"provider": provider_id})
                    if kind in items}
        provided: list[ProvidedItem] = []
        from_copies = [item for item in items if item not in live]
        if from_copies and provider_person_code is not None:
            copies = await _COPIES.rows(self._engine, {"provider": provider_id, "person": person_id})
            provided.extend(ProvidedItem(kind, key, value) for kind, key, value in copies if kind in from_copies)
        if live:
            try:
                provided.extend(await self._ask_live(live, provider_person_code, record, row))
            except (httpx.HTTPError, ValueError, PortalError):
                return refuse(ErrorCode.EXCHANGE_PROVIDER_UNAVAILABLE,
                              "The provider's system did not answer in time or answered wrongly.", outcome="failed")
        if row.pension_kinds is not None:
            provided = [p for p in provided if p.kind != "pension_benefit" or p.key in row.pension_kinds]
        record.processing_type = ("live" if not from_copies else "mixed") if live else "copy"
        record.outcome = "provided"
        record.provided_at = utcnow()
        held = {item.kind for item in provided}
        return ExchangeAnswer(record=record, row=row, provider_slug=request.provider, items=provided,
                              not_held=[item for item in items if item not in held])

    async def _write(self, record: ExchangeRecord) -> None:
        # A Core INSERT on a connection: the ORM unit of work costs more CPU than the rest of an exchange.
        async with self._engine.begin() as connection:
            if self._leaf_sink is not None:  # the one log-append call site; the record keeps its leaf's id
                record.log_leaf_id = await self._leaf_sink(connection, exchange_record_leaf(record))
            values = {column.key: getattr(record, column.key) for column in _RECORD_COLUMNS}
            await connection.execute(_INSERT_RECORD, values)

    async def _ask_live(self, live: dict[str, str], provider_code: str, record: ExchangeRecord,
                        row: LegalRow) -> list[ProvidedItem]:
        """Ask the provider's endpoint(s) with the provider's own code; each answer is checked like a copy."""
        answers: list[ProvidedItem] = []
        by_url: dict[str, list[str]] = {}
        for kind, url in live.items():
            by_url.setdefault(url, []).append(kind)
        client = self._http or httpx.AsyncClient(timeout=LIVE_TIMEOUT_SECONDS)
        try:
            for url, kinds in by_url.items():
                response = await client.post(url, json={
                    "queryId": str(record.query_id), "personCode": provider_code, "duty": record.duty,
                    "items": kinds, "legalRow": row.id}, timeout=LIVE_TIMEOUT_SECONDS)
                response.raise_for_status()
                body = response.json()
                if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                    raise ValueError("the answer has no items list")
                for entry in body["items"]:
                    if not isinstance(entry, dict) or entry.get("kind") not in kinds:
                        raise ValueError("an answer item is of a kind not asked for")
                    key, value = check_item(entry["kind"], entry.get("value"), entry.get("key"))
                    answers.append(ProvidedItem(entry["kind"], key, value))
        finally:
            if self._http is None:
                await client.aclose()
        return answers
