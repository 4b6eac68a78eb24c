"""GraphQL for 自己情報表示: what agencies hold about the person (grouped, with provenance), exports, correction
requests. Each read goes on the person's record (api.selfinfo)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import strawberry
from strawberry import relay

from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import RECORDS_READ
from api.schema.agencies import AgencyType
from api.schema.context import Info
from api.schema.notices import node_uuid
from api.selfinfo import corrections, exports
from api.selfinfo.groups import InfoGroup
from api.selfinfo.held import HeldGroup, HeldItem, read_information
from api.selfinfo.models import CorrectionRequest, CorrectionStatus, SelfInfoExport

SelfInfoGroupKind = strawberry.enum(InfoGroup, name="SelfInfoGroupKind")
CorrectionStatusType = strawberry.enum(CorrectionStatus, name="CorrectionStatus")


@strawberry.type(name="LegalBasis", description="A row of the exchange table (別表第二) the item is provided under.")
class LegalBasisType:
    row: str
    text: str


@strawberry.type(name="SelfInfoItem", description="One data item an agency holds about the person, with provenance.")
class SelfInfoItemType:
    id: strawberry.ID = strawberry.field(description="Names the item in a correction request.")
    kind: str
    kind_name: str = strawberry.field(description="The law's name of the data kind (地方税関係情報 …).")
    key: str = strawberry.field(description="Tells several items of one kind apart (a tax year …); may be empty.")
    value: str = strawberry.field(description="The item's value as a JSON object.")
    source: AgencyType = strawberry.field(description="The agency that provided it.")
    last_updated: datetime
    legal_basis: list[LegalBasisType]

    @classmethod
    def from_item(cls, item: HeldItem) -> SelfInfoItemType:
        return cls(id=strawberry.ID(str(item.id)), kind=item.kind, kind_name=item.kind_name, key=item.key,
                   value=json.dumps(item.value, ensure_ascii=False, sort_keys=True),
                   source=AgencyType.from_model(item.provider), last_updated=item.updated_at,
                   legal_basis=[LegalBasisType(row=b.row_id, text=b.text) for b in item.legal_basis])


@strawberry.type(name="SelfInfoGroup",
                 description="A group of わたしの情報 (税・所得, 年金, 子ども・子育て, 健康・医療, 世帯, その他).")
class SelfInfoGroupType:
    group: SelfInfoGroupKind  # type: ignore[valid-type]
    title: str
    items: list[SelfInfoItemType]

    @classmethod
    def from_group(cls, group: HeldGroup) -> SelfInfoGroupType:
        return cls(group=group.group, title=group.title, items=[SelfInfoItemType.from_item(i) for i in group.items])


@strawberry.type(name="SelfInfoExport", description="One JSON document of everything held about the person and "
                                                    "their record, as it was when made.")
class SelfInfoExportType:
    id: strawberry.ID
    created_at: datetime
    size: int = strawberry.field(description="Bytes of the document (UTF-8).")
    sha256: str

    @strawberry.field(description="The document itself (JSON); reading it is recorded like any read.")
    async def document(self, info: Info) -> str:
        principal = info.context.require_person(RECORDS_READ)
        export = await exports.export_document(info.context.session_factory, principal.person_id,
                                               uuid.UUID(str(self.id)), today=info.context.today())
        return export.document

    @classmethod
    def from_model(cls, export: SelfInfoExport) -> SelfInfoExportType:
        return cls(id=strawberry.ID(str(export.id)), created_at=export.created_at, size=export.size,
                   sha256=export.sha256)


@strawberry.type(name="CorrectionRequest",
                 description="訂正請求: a request to the providing agency to correct an item.")
class CorrectionRequestType:
    id: strawberry.ID
    item_name: str
    message: str
    status: CorrectionStatusType  # type: ignore[valid-type]
    answer: str | None
    created_at: datetime
    answered_at: datetime | None
    provider_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The agency asked to correct it.")
    async def provider(self, info: Info) -> AgencyType:
        agency = await info.context.loaders.agency.load(self.provider_id)
        if agency is None:
            raise PortalError(ErrorCode.NOT_FOUND, "The agency is unknown.")
        return AgencyType.from_model(agency)

    @classmethod
    def from_model(cls, request: CorrectionRequest) -> CorrectionRequestType:
        return cls(id=strawberry.ID(str(request.id)), item_name=request.item_name, message=request.message,
                   status=request.status, answer=request.answer, created_at=request.created_at,
                   answered_at=request.answered_at, provider_id=request.provider_agency_id)


@strawberry.input(name="CorrectionRequestInput")
class CorrectionRequestInput:
    item_id: strawberry.ID
    message: str
    person_id: relay.GlobalID | None = strawberry.field(default=None, description="Whose item (default: the viewer).")


def _subject(info: Info, person_id: relay.GlobalID | None) -> tuple[uuid.UUID, uuid.UUID]:
    principal = info.context.require_person(RECORDS_READ)
    subject = principal.person_id if person_id is None else node_uuid(person_id, "Person")
    return principal.person_id, subject


def _uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, f"No such {what}.") from error


@strawberry.type
class SelfInfoQuery:
    @strawberry.field(description="What agencies hold about the person (the viewer, a minor child, or a principal "
                                  "who granted records:read), by group, with provenance. Recorded on the person's "
                                  "record as the portal's read from each agency.")
    async def self_info(self, info: Info, person_id: relay.GlobalID | None = None) -> list[SelfInfoGroupType]:
        actor, subject = _subject(info, person_id)
        groups = await read_information(info.context.session_factory, actor, subject, today=info.context.today())
        return [SelfInfoGroupType.from_group(group) for group in groups]

    @strawberry.field(description="The person's exports, newest first.")
    async def self_info_exports(self, info: Info, person_id: relay.GlobalID | None = None
                                ) -> list[SelfInfoExportType]:
        actor, subject = _subject(info, person_id)
        listed = await exports.list_exports(info.context.session_factory, actor, subject, today=info.context.today())
        return [SelfInfoExportType.from_model(export) for export in listed]

    @strawberry.field(description="The person's correction requests, newest first.")
    async def correction_requests(self, info: Info, person_id: relay.GlobalID | None = None
                                  ) -> list[CorrectionRequestType]:
        actor, subject = _subject(info, person_id)
        listed = await corrections.person_requests(info.context.session_factory, actor, subject,
                                                   today=info.context.today())
        return [CorrectionRequestType.from_model(request) for request in listed]


@strawberry.type
class SelfInfoMutation:
    @strawberry.mutation(description="Export everything held about the person and their record as one JSON "
                                     "document (listed in selfInfoExports).")
    async def self_info_export(self, info: Info, person_id: relay.GlobalID | None = None) -> SelfInfoExportType:
        actor, subject = _subject(info, person_id)
        export = await exports.make_export(info.context.session_factory, actor, subject, today=info.context.today())
        return SelfInfoExportType.from_model(export)

    @strawberry.mutation(description="Ask the agency that provided an item to correct it (訂正請求); its answer "
                                     "comes back as a notice. Both are on the person's record.")
    async def request_correction(self, info: Info, input: CorrectionRequestInput) -> CorrectionRequestType:
        actor, subject = _subject(info, input.person_id)
        request = await corrections.request_correction(info.context.session_factory, actor, subject,
                                                       _uuid(str(input.item_id), "item"), input.message,
                                                       today=info.context.today())
        return CorrectionRequestType.from_model(request)
