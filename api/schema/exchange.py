"""GraphQL for the exchange network, agency side (the agency allowlist): ask, register copies, read own records.

The same operations as the REST API under /exchange, under the agency's API key and its exchange scopes.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from api.agencies.credentials import EXCHANGE_PROVIDE, EXCHANGE_RECORDS, EXCHANGE_REQUEST
from api.exchange import copies, record
from api.exchange.hub import ExchangeRequest, Hub
from api.exchange.views import answer_json, registration_json
from api.schema.connections import page_request
from api.schema.context import Info


@strawberry.input(name="ExchangeRequestInput")
class ExchangeRequestInput:
    person_code: str = strawberry.field(description="Your agency's own code for the person.")
    duty: str = strawberry.field(description="A duty code of the legal table (別表第二).")
    provider: str = strawberry.field(description="The provider agency's slug.")
    items: list[str]
    hidden_until: datetime | None = strawberry.field(default=None, description="Withhold the entry until then.")
    hidden_reason: str | None = None


@strawberry.input(name="ExchangeCopyInput")
class ExchangeCopyInput:
    person_code: str
    item_kind: str
    value: JSON
    key: str | None = None


@strawberry.input(name="ExchangeCopiesRegisterInput")
class ExchangeCopiesRegisterInput:
    idempotency_key: str
    copies: list[ExchangeCopyInput]


@strawberry.type(name="ExchangeLegalRow")
class ExchangeLegalRowType:
    id: str
    row: int
    instrument: str
    as_of: str
    table_version: str
    text: str


@strawberry.type(name="ExchangeItem")
class ExchangeItemType:
    kind: str
    name: str
    key: str
    value: JSON


@strawberry.type(name="ExchangeAnswer", description="Data items provided through the hub (values, once).")
class ExchangeAnswerType:
    query_id: str
    duty: str
    provider: str
    requested_at: datetime
    provided_at: datetime
    processing_type: str
    legal_row: ExchangeLegalRowType
    items: list[ExchangeItemType]
    not_held: list[str]


@strawberry.type(name="ExchangeRegistration")
class ExchangeRegistrationType:
    batch_id: str
    created: int
    updated: int
    unchanged: int
    replayed: bool


@strawberry.type(name="ExchangeRecord", description="One exchange the agency asked for: names, never values.")
class ExchangeRecordType:
    query_id: str
    requester: str | None
    provider: str | None
    duty: str
    items: list[str]
    legal_row: str | None
    legal_table_version: str
    requested_at: datetime
    provided_at: datetime | None
    processing_type: str
    outcome: str
    refusal_code: str | None
    hidden_until: datetime | None
    hidden_reason: str | None


@strawberry.type(name="ExchangeRecordEdge")
class ExchangeRecordEdge:
    cursor: str
    node: ExchangeRecordType


@strawberry.type(name="ExchangeRecordPage")
class ExchangeRecordPage:
    edges: list[ExchangeRecordEdge]
    has_next_page: bool
    end_cursor: str | None


def _record(fields: dict) -> ExchangeRecordType:
    times = {name: datetime.fromisoformat(fields[name].replace("Z", "+00:00")) if fields[name] else None
             for name in ("requestedAt", "providedAt", "hiddenUntil")}
    return ExchangeRecordType(
        query_id=fields["queryId"], requester=fields["requester"], provider=fields["provider"], duty=fields["duty"],
        items=fields["items"], legal_row=fields["legalRow"], legal_table_version=fields["legalTableVersion"],
        requested_at=times["requestedAt"], provided_at=times["providedAt"], processing_type=fields["processingType"],
        outcome=fields["outcome"], refusal_code=fields["refusalCode"], hidden_until=times["hiddenUntil"],
        hidden_reason=fields["hiddenReason"])


@strawberry.type
class ExchangeQuery:
    @strawberry.field(description="The records of your agency's own exchange requests, newest first "
                                  "(agency key with exchange:records).")
    async def exchange_records(self, info: Info, first: int | None = None, after: str | None = None
                               ) -> ExchangeRecordPage:
        agency = info.context.require_agency(EXCHANGE_RECORDS)
        page, slugs = await record.requester_records(info.context.read_session_factory, agency.agency_id,
                                                     page_request(first, after))
        edges = [ExchangeRecordEdge(cursor=cursor, node=_record(record.record_json(row, slugs)))
                 for cursor, row in page.items]
        return ExchangeRecordPage(edges=edges, has_next_page=page.has_next_page,
                                  end_cursor=edges[-1].cursor if edges else None)


@strawberry.type
class ExchangeMutation:
    @strawberry.mutation(description="Ask a provider for data items for a duty, as the legal table allows "
                                     "(agency key with exchange:request). Refusals are recorded too.")
    async def exchange_request(self, info: Info, input: ExchangeRequestInput) -> ExchangeAnswerType:
        agency = info.context.require_agency(EXCHANGE_REQUEST)
        answer = await Hub(info.context.session_factory).request(agency.agency_id, ExchangeRequest(
            person_code=input.person_code, duty=input.duty, provider=input.provider, items=tuple(input.items),
            hidden_until=input.hidden_until, hidden_reason=input.hidden_reason))
        shaped = answer_json(answer)
        row = shaped["legalRow"]
        return ExchangeAnswerType(
            query_id=shaped["queryId"], duty=shaped["duty"], provider=shaped["provider"],
            requested_at=answer.record.requested_at, provided_at=answer.record.provided_at,  # type: ignore[arg-type]
            processing_type=shaped["processingType"],
            legal_row=ExchangeLegalRowType(id=row["id"], row=row["row"], instrument=row["instrument"],
                                           as_of=row["asOf"], table_version=row["tableVersion"], text=row["text"]),
            items=[ExchangeItemType(kind=i["kind"], name=i["name"], key=i["key"], value=i["value"])
                   for i in shaped["items"]],
            not_held=shaped["notHeld"])

    @strawberry.mutation(description="Register copies (副本) under your own codes, in bulk and idempotently "
                                     "(agency key with exchange:provide).")
    async def exchange_copies_register(self, info: Info, input: ExchangeCopiesRegisterInput
                                       ) -> ExchangeRegistrationType:
        agency = info.context.require_agency(EXCHANGE_PROVIDE)
        result = await copies.register_copies(
            info.context.session_factory, agency.agency_id,
            [copies.CopyEntry(c.person_code, c.item_kind, c.value, c.key) for c in input.copies],
            idempotency_key=input.idempotency_key)
        shaped = registration_json(result)
        return ExchangeRegistrationType(batch_id=shaped["batchId"], created=result.created, updated=result.updated,
                                        unchanged=result.unchanged, replayed=result.replayed)
