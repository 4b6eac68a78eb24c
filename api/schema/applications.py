"""GraphQL for online applications: さがす and ぴったり, drafts (saved, resumable, prefilled), attachments, the
card-signed submission, the 公金受取口座; and the municipality's inbox for staff tools (an agency key with the
applications scopes). Binary values travel as standard base64; forms as JSON objects."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.agencies.client_certificates import check_client_certificate
from api.agencies.credentials import APPLICATIONS_INBOX
from api.applications import bank_account, drafts, inbox, submission
from api.applications.attachments import add_attachment, too_large
from api.applications.catalogue import Fit, Procedure, Query
from api.applications.discover import find, pittari
from api.applications.models import Application, ApplicationAttachment
from api.applications.staff import STAFF_TOKEN_PREFIX, InboxActor, inbox_actor
from api.applications.withdrawal import withdraw
from api.exchange.hub import Hub
from api.platform.client_tls import peer_certificate
from api.platform.errors import ErrorCode, PortalError
from api.platform.limits import base64_length
from api.platform.pagination import PageRequest
from api.platform.scopes import APPLICATIONS_WRITE, PROFILE_READ
from api.schema.context import Info


def _decode(value: str, field: str, limit: int | None = 16384) -> bytes:
    """``value``'s bytes; ``limit`` bounds a certificate's or a signature's base64 (None: the caller bounded it)."""
    if limit is not None and len(value) > limit:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} is too long.", extensions={"field": field})
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} is not valid base64.",
                          extensions={"field": field}) from error


def _uuid(value: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, "No such application.") from error


@strawberry.type(name="ProcedureAttachment")
class ProcedureAttachmentType:
    code: str
    name: str
    condition: str | None
    media_types: list[str]
    max_bytes: int


@strawberry.type(name="NetworkItem", description="Data the municipality obtains through the information-exchange "
                                                 "network (with your consent) instead of a paper certificate.")
class NetworkItemType:
    item: str
    replaces: str


@strawberry.type(name="Procedure", description="A procedure of the national catalogue (ぴったりサービス).")
class ProcedureType:
    code: str
    form_version: int
    name: str
    kana: str
    category: str
    life_events: list[str]
    who_applies: str
    applies_for: str = strawberry.field(description="self, or child (name the child when starting).")
    signature_required: bool
    fee_yen: int
    deadline: str
    attachments: list[ProcedureAttachmentType]
    obtained_through_network: list[NetworkItemType]
    form: JSON = strawberry.field(description="The form as a JSON Schema (draft 2020-12) with x-ui hints.")
    municipalities: list[str]
    owned_by: str | None = strawberry.field(description="The municipality whose own procedure this is (独自の手続), "
                                                        "or null for a national one.")

    @classmethod
    def of(cls, proc: Procedure, municipalities: list[str]) -> ProcedureType:
        return cls(code=proc.code, form_version=proc.form_version, name=proc.name, kana=proc.kana,
                   category=proc.category, life_events=list(proc.life_events), who_applies=proc.who_applies,
                   applies_for=proc.applies_for, signature_required=proc.signature_required, fee_yen=proc.fee_yen,
                   deadline=proc.deadline,
                   attachments=[ProcedureAttachmentType(code=a.code, name=a.name, condition=a.condition,
                                                        media_types=list(a.media_types), max_bytes=a.max_bytes)
                                for a in proc.attachments],
                   obtained_through_network=[NetworkItemType(item=n.item, replaces=n.replaces)
                                             for n in proc.network_items],
                   form=proc.form, municipalities=municipalities, owned_by=proc.municipality)


@strawberry.type(name="ProcedureFit", description="ぴったり: a procedure that fits you now, and why.")
class ProcedureFitType:
    procedure: ProcedureType
    reasons: list[str]
    children: list[str]

    @classmethod
    def of(cls, fit: Fit, municipality: str) -> ProcedureFitType:
        return cls(procedure=ProcedureType.of(fit.procedure, [municipality]), reasons=list(fit.reasons),
                   children=list(fit.child_names))


@strawberry.type(name="ApplicationAttachment")
class AttachmentType:
    id: strawberry.ID
    requirement: str
    filename: str
    media_type: str
    size: int
    sha256: str

    @classmethod
    def of(cls, a: ApplicationAttachment) -> AttachmentType:
        return cls(id=strawberry.ID(str(a.id)), requirement=a.requirement, filename=a.filename,
                   media_type=a.media_type, size=a.size, sha256=a.sha256.hex())


@strawberry.type(name="Application", description="An application, from draft to decision.")
class ApplicationType:
    id: strawberry.ID
    procedure: str
    form_version: int
    municipality: str
    status: str = strawberry.field(description="draft, received (受付), reviewing (審査中), correction_requested "
                                               "(補正依頼), completed (完了), rejected (却下), withdrawn (取下げ).")
    reception_number: str | None = strawberry.field(description="受付番号, from the first submission.")
    revision: int = strawberry.field(description="Send it back with a save: a stale save is refused.")
    form: JSON
    prefill: JSON = strawberry.field(description="Where prefilled fields came from (basic4, household, network).")
    basis: str
    updated_at: datetime
    submitted_at: datetime | None

    @classmethod
    def of(cls, a: Application) -> ApplicationType:
        return cls(id=strawberry.ID(str(a.id)), procedure=a.procedure_code, form_version=a.form_version,
                   municipality=a.municipality_code, status=a.status, reception_number=a.reception_number,
                   revision=a.revision, form=a.form, prefill=a.prefill, basis=a.basis, updated_at=a.updated_at,
                   submitted_at=a.submitted_at)


@strawberry.type(name="ApplicationToSign", description="What the card signs: the SHA-256 of the canonical JSON.")
class ToSignType:
    document: str = strawberry.field(description="The RFC 8785 canonical JSON, base64.")
    sha256: str = strawberry.field(description="Hex; `myna-bridge sign --key sign --digest <this>`.")


@strawberry.type(name="ApplicationPrefill")
class PrefillType:
    application: ApplicationType
    filled: list[str]
    not_held: list[str]


@strawberry.type(name="PublicBenefitAccount", description="公金受取口座.")
class BankAccountType:
    bank_code: str
    branch_code: str
    kind: str
    number: str
    holder_kana: str
    updated_at: datetime


@strawberry.input
class SubmitApplicationInput:
    id: strawberry.ID
    form_version: int
    certificate: str | None = strawberry.field(default=None, description="The JPKI signature certificate, DER.")
    chain: list[str] = strawberry.field(default_factory=list)
    signature: str | None = None


@strawberry.input
class PublicBenefitAccountInput:
    bank_code: str
    branch_code: str
    kind: str
    number: str
    holder_kana: str


@strawberry.type(name="InboxApplication", description="An application as the municipality sees it (its codes).")
class InboxApplicationType:
    reception_number: str
    procedure: str
    status: str
    applicant_code: str | None
    subject_code: str | None
    submitted_at: datetime | None
    form: JSON | None = None
    history: JSON | None = None


@strawberry.type(name="InboxPage")
class InboxPageType:
    applications: list[InboxApplicationType]
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(name="InboxMove")
class InboxMoveType:
    reception_number: str
    status: str
    previous: str
    at: str


def _bank(account: object) -> BankAccountType:
    return BankAccountType(bank_code=account.bank_code, branch_code=account.branch_code,  # type: ignore[attr-defined]
                           kind=account.account_kind, number=account.account_number,  # type: ignore[attr-defined]
                           holder_kana=account.holder_kana, updated_at=account.updated_at)  # type: ignore[attr-defined]


async def _inbox_actor(info: Info) -> InboxActor:
    """The municipality's system (its agency key with applications:inbox) or a staff member (their own token, whose
    role decides whether they may move applications): as on the REST inbox, over the agency's closed line."""
    _, _, token = info.context.request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if not token.startswith(STAFF_TOKEN_PREFIX):
        info.context.require_agency(APPLICATIONS_INBOX)
        return await inbox_actor(info.context.session_factory, token)
    actor = await inbox_actor(info.context.session_factory, token)
    await check_client_certificate(info.context.session_factory, actor.agency_id,
                                   peer_certificate(info.context.request.scope),
                                   required=info.context.settings.agency_client_certificates == "required")
    return actor


@strawberry.type
class ApplicationsQuery:
    @strawberry.field(description="さがす: published procedures by keyword (kana-normalised), category, life event, "
                                  "municipality. No sign-in needed.")
    async def procedures(self, info: Info, keyword: str | None = None, category: str | None = None,
                         life_event: str | None = None, municipality: str | None = None) -> list[ProcedureType]:
        found = await find(info.context.read_session_factory, Query(keyword, category, life_event), municipality)
        return [ProcedureType.of(p, where) for p, where in found]

    @strawberry.field(description="ぴったり: the procedures that fit you now (your household), each with why.")
    async def pittari(self, info: Info) -> list[ProcedureFitType]:
        principal = info.context.require_person(PROFILE_READ)
        fits = await pittari(info.context.read_session_factory, principal.person_id, info.context.today())
        person = await info.context.loaders.person.load(principal.person_id)
        return [ProcedureFitType.of(fit, person.municipality_code if person else "") for fit in fits]

    @strawberry.field(description="Your applications, drafts first by last change.")
    async def my_applications(self, info: Info) -> list[ApplicationType]:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        return [ApplicationType.of(a) for a in await drafts.my_applications(info.context.session_factory,
                                                                             principal.person_id)]

    @strawberry.field(description="One of your applications (resume a draft on another device).")
    async def application(self, info: Info, id: strawberry.ID) -> ApplicationType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        return ApplicationType.of(await drafts.my_application(info.context.session_factory, principal.person_id,
                                                              _uuid(id)))

    @strawberry.field(description="The bytes to sign for this application, once its form is complete.")
    async def application_to_sign(self, info: Info, id: strawberry.ID) -> ToSignType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        to_sign = await submission.to_sign(info.context.session_factory, principal.person_id, _uuid(id))
        return ToSignType(document=base64.b64encode(to_sign.document).decode(), sha256=to_sign.digest_hex)

    @strawberry.field(description="Your 公金受取口座, if registered.")
    async def public_benefit_account(self, info: Info) -> BankAccountType | None:
        principal = info.context.require_person(PROFILE_READ)
        account = await bank_account.account_of(info.context.session_factory, principal.person_id)
        return _bank(account) if account is not None else None

    @strawberry.field(description="The municipality's inbox (agency key with applications:inbox, or a staff token).")
    async def inbox_applications(self, info: Info, status: str | None = None, first: int | None = None,
                                 after: str | None = None) -> InboxPageType:
        actor = await _inbox_actor(info)
        page = await inbox.list_inbox(info.context.session_factory, actor, PageRequest.parse(first, after), status)
        return InboxPageType(applications=[InboxApplicationType(
            reception_number=row.application.reception_number or "", procedure=row.application.procedure_code,
            status=row.application.status, applicant_code=row.applicant_code, subject_code=row.subject_code,
            submitted_at=row.application.submitted_at) for _, row in page.items],
            has_next_page=page.has_next_page, end_cursor=page.items[-1][0] if page.items else None)

    @strawberry.field(description="One application of the inbox, with its form and history (on the applicant's "
                                  "record).")
    async def inbox_application(self, info: Info, reception_number: str) -> InboxApplicationType:
        actor = await _inbox_actor(info)
        found = await inbox.fetch(info.context.session_factory, actor, reception_number)
        a = found.row.application
        return InboxApplicationType(
            reception_number=a.reception_number or "", procedure=a.procedure_code, status=a.status,
            applicant_code=found.row.applicant_code, subject_code=found.row.subject_code,
            submitted_at=a.submitted_at, form=a.form,
            history=[{"at": e.at.isoformat(), "from": e.from_status, "to": e.to_status, "actor": e.actor,
                      "note": e.note} for e in found.events])


@strawberry.type
class ApplicationsMutation:
    @strawberry.mutation(description="Start a draft, prefilled from your 基本4情報 and household. subjectId: the "
                                     "child (a Person id) for a child's procedure.")
    async def start_application(self, info: Info, procedure: str,
                                subject_id: relay.GlobalID | None = None) -> ApplicationType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        subject = None
        if subject_id is not None:
            if subject_id.type_name != "Person":
                raise PortalError(ErrorCode.BAD_USER_INPUT, "subjectId is a Person id.")
            subject = _uuid(strawberry.ID(subject_id.node_id))
        return ApplicationType.of(await drafts.start_draft(info.context.session_factory, principal.person_id,
                                                           procedure, subject, today=info.context.today()))

    @strawberry.mutation(description="Save what was typed; revision is the one you loaded.")
    async def save_application(self, info: Info, id: strawberry.ID, form: JSON, revision: int) -> ApplicationType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        return ApplicationType.of(await drafts.save_draft(info.context.session_factory, principal.person_id,
                                                          _uuid(id), form, revision))

    @strawberry.mutation(description="With your consent to each item, the municipality obtains it through the "
                                     "network and fills the form (each read is on your やりとり履歴).")
    async def prefill_application(self, info: Info, id: strawberry.ID, consented_items: list[str]) -> PrefillType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        done = await drafts.prefill_from_network(info.context.session_factory, Hub(info.context.session_factory),
                                                 principal.person_id, _uuid(id), consented_items)
        return PrefillType(application=ApplicationType.of(done.application), filled=done.filled,
                           not_held=done.not_held)

    @strawberry.mutation(description="Attach a file (base64; PDF, PNG or JPEG, checked by content).")
    async def attach_to_application(self, info: Info, id: strawberry.ID, requirement: str, filename: str,
                                    media_type: str, content: str) -> AttachmentType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        limit = info.context.settings.max_attachment_bytes  # the web form's too (api.web.applications)
        if len(content) > base64_length(limit):  # more than ``limit`` bytes once decoded: refused undecoded
            raise too_large(limit)
        data = _decode(content, "content", None)
        return AttachmentType.of(await add_attachment(info.context.session_factory, principal.person_id, _uuid(id),
                                                      requirement, filename, media_type, data, max_bytes=limit))

    @strawberry.mutation(description="Send the application, signed with the card's signature certificate.")
    async def submit_application(self, info: Info, input: SubmitApplicationInput) -> ApplicationType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        done = await submission.submit(
            info.context.session_factory, info.context.identity.service, principal.person_id, _uuid(input.id),
            form_version=input.form_version,
            certificate=_decode(input.certificate, "certificate") if input.certificate is not None else None,
            chain=[_decode(c, "chain") for c in input.chain[:4]],
            signature=_decode(input.signature, "signature") if input.signature is not None else None,
            today=info.context.today())
        return ApplicationType.of(done)

    @strawberry.mutation(description="取下げ: withdraw your draft, or your application sent and not yet decided "
                                     "(APPLICATION_ALREADY_DECIDED once decided). The municipality sees it withdrawn "
                                     "in its inbox, with your reason.")
    async def withdraw_application(self, info: Info, id: strawberry.ID, reason: str | None = None) -> ApplicationType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        return ApplicationType.of(await withdraw(info.context.session_factory, principal.person_id, _uuid(id), reason,
                                                 today=info.context.today()))

    @strawberry.mutation(description="Register or change your 公金受取口座.")
    async def register_public_benefit_account(self, info: Info, input: PublicBenefitAccountInput) -> BankAccountType:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        account = await bank_account.register_account(info.context.session_factory, principal.person_id,
                                                      bank_account.NewAccount(input.bank_code, input.branch_code,
                                                                              input.kind, input.number,
                                                                              input.holder_kana))
        return _bank(account)

    @strawberry.mutation(description="Withdraw your 公金受取口座.")
    async def withdraw_public_benefit_account(self, info: Info) -> bool:
        principal = info.context.require_person(APPLICATIONS_WRITE)
        await bank_account.withdraw_account(info.context.session_factory, principal.person_id)
        return True

    @strawberry.mutation(description="Move an application of the inbox (agency key with applications:decide, or a "
                                     "staff token with the decider role).")
    async def move_application(self, info: Info, reception_number: str, status: str, idempotency_key: str,
                               note: str | None = None) -> InboxMoveType:
        actor = await _inbox_actor(info)
        moved = await inbox.move(info.context.session_factory, actor, reception_number, status, note,
                                 idempotency_key=idempotency_key)
        return InboxMoveType(reception_number=moved["receptionNumber"], status=moved["status"],
                             previous=moved["from"], at=moved["at"])



