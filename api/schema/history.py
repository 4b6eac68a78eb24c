"""GraphQL for the person's record (やりとり履歴): the ``recordHistory`` connection with its filters and the
``recordAdded`` live feed."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry import relay

from api.history import service
from api.history.entries import Entry, EntryKind, RecordFilter
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import RECORDS_READ
from api.records.log import LeafProof
from api.schema.agencies import AgencyType
from api.schema.connections import page_request, to_connection
from api.schema.context import Info
from api.schema.notices import node_uuid

RecordEntryKind = strawberry.enum(EntryKind, name="RecordEntryKind")


@strawberry.type(name="RecordProof", description="Evidence that the entry is in the portal's transparency log: "
                                                 "an RFC 9162 inclusion proof against a signed tree head.")
class RecordProofType:
    leaf_index: int
    leaf_hash: str = strawberry.field(description="Base64 of the RFC 9162 leaf hash of the entry's canonical bytes.")
    tree_size: int
    root_hash: str = strawberry.field(description="Base64 of the signed tree's root.")
    timestamp: float = strawberry.field(description="When the head was signed, in milliseconds since the epoch.")
    key_generation: int = strawberry.field(description="The signing key's generation (/records/log/keys).")
    signature: str = strawberry.field(description="Base64 Ed25519 signature of the head's checkpoint body.")
    inclusion_path: list[str] = strawberry.field(description="Base64 of each node hash, leaf to root.")

    @classmethod
    def from_proof(cls, found: LeafProof) -> RecordProofType:
        head = found.head
        return cls(leaf_index=found.index, leaf_hash=_b64(found.leaf_hash), tree_size=head.size,
                   root_hash=_b64(head.root), timestamp=float(head.timestamp_ms), key_generation=head.key_generation,
                   signature=_b64(head.signature), inclusion_path=[_b64(node) for node in found.proof])


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@strawberry.type(name="RecordEntry", description="One line of the person's record: an exchange between agencies, "
                                                 "or a read of the person's data by a proxy, a parent or staff.")
class RecordEntryType:
    id: str = strawberry.field(description="Opaque, stable id of the entry.")
    kind: RecordEntryKind  # type: ignore[valid-type]
    at: datetime = strawberry.field(description="When it happened (for an exchange: when it was requested).")
    duty: str | None = strawberry.field(description="The duty (事務) the data was exchanged for.")
    items: list[str] = strawberry.field(description="The data items exchanged (names, never values).")
    legal_basis: str | None = strawberry.field(description="The legal basis: the row of the exchange table "
                                                           "(別表第二) the exchange relied on.")
    legal_table_version: str | None = strawberry.field(description="The version of the exchange table.")
    provided_at: datetime | None
    processing_type: str | None
    outcome: str | None
    refusal_code: str | None = strawberry.field(description="Why the exchange was refused, when it was.")
    query_id: str | None = strawberry.field(description="Joins the requester's and the provider's records.")
    purpose: str | None = strawberry.field(description="Why a proxy, a parent or staff read the data.")
    operator: str | None = strawberry.field(description="The named operator, for staff access.")
    requester_id: strawberry.Private[uuid.UUID | None]
    provider_id: strawberry.Private[uuid.UUID | None]
    actor_id: strawberry.Private[uuid.UUID | None]
    entry: strawberry.Private[Entry]

    @classmethod
    def from_entry(cls, entry: Entry) -> RecordEntryType:
        exchange, access = entry.exchange, entry.access
        return cls(
            id=entry.key, kind=entry.kind, at=entry.at,
            duty=exchange.duty if exchange else None,
            items=list(exchange.item_names) if exchange else [],
            legal_basis=exchange.legal_row_id if exchange else None,
            legal_table_version=exchange.legal_table_version if exchange else None,
            provided_at=exchange.provided_at if exchange else None,
            processing_type=exchange.processing_type if exchange else None,
            outcome=exchange.outcome if exchange else None,
            refusal_code=exchange.refusal_code if exchange else None,
            query_id=str(exchange.query_id) if exchange else None,
            purpose=access.purpose if access else None,
            operator=access.actor_operator if access else None,
            requester_id=exchange.requester_agency_id if exchange else None,
            provider_id=exchange.provider_agency_id if exchange else None,
            actor_id=access.actor_person_id if access else None,
            entry=entry,
        )

    @strawberry.field(description="The agency that asked for the data (null for a read by a person or staff).")
    async def requester(self, info: Info) -> AgencyType | None:
        return await _agency(info, self.entry, self.requester_id)

    @strawberry.field(description="The agency that provided the data.")
    async def provider(self, info: Info) -> AgencyType | None:
        return await _agency(info, self.entry, self.provider_id)

    @strawberry.field(description="The name of the proxy or parent who read the data.")
    async def actor_name(self, info: Info) -> str | None:
        if self.actor_id is None:
            return None
        person = await info.context.loaders.person.load(self.actor_id)
        return person.name if person else None

    @strawberry.field(description="Inclusion proof and signed tree head from the transparency log, when the log "
                                  "holds the entry (null until it does).")
    async def proof(self, info: Info) -> RecordProofType | None:
        exchange = self.entry.exchange
        if exchange is None or exchange.log_leaf_id is None:
            return None  # a read by a person or staff (access records), or a record from before the log
        found = await info.context.loaders.record_proof.load(exchange.log_leaf_id)
        return RecordProofType.from_proof(found) if found is not None else None


async def _agency(info: Info, entry: Entry, agency_id: uuid.UUID | None) -> AgencyType | None:
    if agency_id is None:
        return None
    agency = entry.agencies.get(agency_id) or await info.context.loaders.agency.load(agency_id)
    return AgencyType.from_model(agency) if agency else None


@strawberry.input(name="RecordFilter")
class RecordFilterInput:
    since: datetime | None = strawberry.field(default=None, description="From this instant (inclusive).")
    until: datetime | None = strawberry.field(default=None, description="Until this instant (exclusive).")
    agency_id: relay.GlobalID | None = strawberry.field(default=None,
                                                        description="Exchanges this agency asked or provided.")
    duty: str | None = None
    kinds: list[RecordEntryKind] | None = None  # type: ignore[valid-type]

    def to_filter(self) -> RecordFilter:
        return RecordFilter(since=self.since, until=self.until,
                            agency_id=node_uuid(self.agency_id, "Agency") if self.agency_id else None,
                            duty=self.duty, kinds=frozenset(self.kinds or ()))


def _subject(info: Info, person_id: relay.GlobalID | None) -> tuple[uuid.UUID, uuid.UUID]:
    principal = info.context.require_person(RECORDS_READ)
    subject = principal.person_id if person_id is None else node_uuid(person_id, "Person")
    return principal.person_id, subject


@strawberry.type
class HistoryQuery:
    @strawberry.field(description="The person's record (やりとり履歴), newest first: the viewer's own, or with "
                                  "personId a minor child's (as parent) or a principal's (proxy with records:read). "
                                  "Entries an agency may withhold for now are left out until their date.")
    async def record_history(
        self, info: Info, first: int | None = 20, after: str | None = None,
        person_id: relay.GlobalID | None = None, filter: RecordFilterInput | None = None,
    ) -> relay.Connection[RecordEntryType]:
        actor, subject = _subject(info, person_id)
        filters = filter.to_filter() if filter else RecordFilter()
        page = await service.read_record(info.context.session_factory, actor, subject,
                                         page_request(first, after), filters, today=info.context.today())
        return to_connection(page, RecordEntryType.from_entry)


@strawberry.type
class HistorySubscription:
    @strawberry.subscription(description="New entries of the person's record as they are written (within a second).")
    async def record_added(self, info: Info, person_id: relay.GlobalID | None = None
                           ) -> AsyncGenerator[RecordEntryType, None]:
        actor, subject = _subject(info, person_id)
        feed, guard, principal = info.context.record_feed, info.context.feed_guard, info.context.principal
        if feed is None or guard is None or principal is None:
            raise PortalError(ErrorCode.INTERNAL, "The live record is not available.")
        async with feed.watch(subject) as wakeup:
            mark, acting = await service.open_feed(info.context.session_factory, actor, subject,
                                                   today=info.context.today())
            # Ends with UNAUTHENTICATED or NOT_AUTHORIZED_FOR_PERSON within a second of the end of the session or
            # of the proxy's grant (api.schema.feeds).
            async with guard.watch(session=principal.token_id, grant=acting.grant_id) as watch:
                while True:
                    await watch.race(wakeup.wait())
                    entries, mark = await service.entries_after(info.context.read_session_factory, subject, mark)
                    for entry in entries:
                        yield RecordEntryType.from_entry(entry)
