"""The municipality's inbox (as マイナポータル's 電子申請等情報受取等API): list applications by 受付番号 and status,
fetch one with its attachments and signature material, and move it: 受付 → 審査中 → 補正依頼 (the person
corrects and signs again) → 完了 / 却下.

A municipality sees only its own applications, and people only by its own codes. Every fetch and every move is
on the applicant's record (actor: the staff member or the municipality's system, by name); every move is on the
application's history and sends the person a notice (and its push). A move sent with an Idempotency-Key is done
once: a retry gets the first answer.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Uuid, and_, bindparam, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import AgencyPersonCode
from api.applications.attachments import attachments_of
from api.applications.models import (
    COMPLETED,
    CORRECTION_REQUESTED,
    DECIDED,
    DRAFT,
    RECEIVED,
    REJECTED,
    REVIEWING,
    STATUSES,
    WITHDRAWN,
    Application,
    ApplicationAttachment,
    ApplicationEvent,
    InboxIdempotency,
)
from api.applications.notify import notify_move
from api.applications.staff import InboxActor
from api.platform.access_records import record_operator_action
from api.platform.db import PointRead, UTCDateTime, new_id, utcnow
from api.platform.errors import PortalError
from api.platform.pagination import Page, PageRequest, page_of

# Which moves a municipality may make from each state.
MOVES: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({REVIEWING, REJECTED}),
    REVIEWING: frozenset({CORRECTION_REQUESTED, COMPLETED, REJECTED}),
    CORRECTION_REQUESTED: frozenset({REJECTED}),  # withdrawn corrections end in 却下; the person resubmits otherwise
}
MAX_NOTE = 1000
# What an inbox page shows of each application (rest.py's summary, the GraphQL inbox page).
SUMMARY_COLUMNS = (Application.id, Application.reception_number, Application.procedure_code,
                   Application.form_version, Application.status, Application.applicant_person_id,
                   Application.subject_person_id, Application.basis, Application.submitted_at,
                   Application.updated_at, Application.decided_at)


@dataclass(frozen=True)
class InboxRow:
    application: Application
    applicant_code: str | None
    subject_code: str | None


def _since(after: tuple[str, ...] | None) -> tuple[datetime, uuid.UUID] | None:
    if after is None:
        return None
    try:
        return datetime.fromisoformat(after[0]), uuid.UUID(after[1])
    except (ValueError, IndexError) as error:
        raise PortalError("BAD_USER_INPUT", "The cursor is not valid.", extensions={"field": "after"}) from error


def _page_statement(by_status: bool, after_cursor: bool) -> Select[Any]:
    """One page's statement: ix_applications_inbox (municipality, status, submitted_at, id) with a status,
    ix_applications_inbox_all (municipality, submitted_at, id) without; the cursor starts the index range."""
    applicant = AgencyPersonCode.__table__.alias("applicant_code")
    subject = AgencyPersonCode.__table__.alias("subject_code")
    query = (select(*SUMMARY_COLUMNS, applicant.c.code, subject.c.code)
             .outerjoin(applicant, and_(applicant.c.agency_id == bindparam("agency", type_=Uuid),
                                        applicant.c.person_id == Application.applicant_person_id))
             .outerjoin(subject, and_(subject.c.agency_id == bindparam("agency", type_=Uuid),
                                      subject.c.person_id == Application.subject_person_id))
             .where(Application.municipality_code == bindparam("municipality"),
                    Application.submitted_at.is_not(None))
             .order_by(Application.submitted_at, Application.id)
             .limit(bindparam("limit")).offset(bindparam("offset")))  # SQLite's LIMIT needs an OFFSET
    if by_status:
        query = query.where(Application.status == bindparam("status"))
    if after_cursor:
        # A row comparison, so the index range starts at the cursor (an OR of two conditions would not).
        query = query.where(tuple_(Application.submitted_at, Application.id)
                            > tuple_(bindparam("at", type_=UTCDateTime), bindparam("ident", type_=Uuid)))
    return query


# The inbox's pages as point reads (api.platform.db.PointRead): on a kept connection outside a transaction, each
# statement compiled once (and prepared by PostgreSQL once it has run a few times).
PAGE_READS = {(by_status, after): PointRead(_page_statement(by_status, after))
              for by_status in (False, True) for after in (False, True)}


def page_parameters(actor: InboxActor, request: PageRequest, status: str | None) -> tuple[PointRead, dict[str, Any]]:
    if status is not None and (status not in STATUSES or status == DRAFT):
        raise PortalError("BAD_USER_INPUT", "Unknown status.", extensions={"field": "status"})
    since = _since(request.after)
    params: dict[str, Any] = {"agency": actor.agency_id, "municipality": actor.municipality_code,
                              "limit": request.first + 1, "offset": 0}
    if status is not None:
        params["status"] = status
    if since is not None:
        params["at"], params["ident"] = since
    return PAGE_READS[(status is not None, since is not None)], params


async def list_inbox(session_factory: async_sessionmaker[AsyncSession], actor: InboxActor, request: PageRequest,
                     status: str | None = None) -> Page[InboxRow]:
    """Oldest first by submission time (keyset pages on the inbox index)."""
    read, params = page_parameters(actor, request, status)
    names = [column.key for column in SUMMARY_COLUMNS]
    rows = [InboxRow(Application(**dict(zip(names, row[:-2], strict=True))), row[-2], row[-1])
            for row in await read.rows(session_factory.kw["bind"], params)]
    return page_of(rows, request, lambda row: (row.application.submitted_at.isoformat(), str(row.application.id)))


@dataclass(frozen=True)
class InboxApplication:
    row: InboxRow
    attachments: list[ApplicationAttachment]
    events: list[ApplicationEvent]


async def _mine(session: AsyncSession, actor: InboxActor, reception_number: str) -> Application:
    application = await session.scalar(select(Application).where(
        Application.reception_number == reception_number[:24],
        Application.municipality_code == actor.municipality_code))
    if application is None:
        raise PortalError("NOT_FOUND", "Your municipality has no application with this reception number.")
    return application


async def _codes(session: AsyncSession, actor: InboxActor, application: Application) -> InboxRow:
    codes = dict((await session.execute(select(AgencyPersonCode.person_id, AgencyPersonCode.code).where(
        AgencyPersonCode.agency_id == actor.agency_id,
        AgencyPersonCode.person_id.in_([application.applicant_person_id, application.subject_person_id])))).all())
    return InboxRow(application, codes.get(application.applicant_person_id), codes.get(application.subject_person_id))


async def fetch(session_factory: async_sessionmaker[AsyncSession], actor: InboxActor,
                reception_number: str) -> InboxApplication:
    async with session_factory() as session, session.begin():
        application = await _mine(session, actor, reception_number)
        await record_operator_action(session, operator=actor.label, subject_id=application.applicant_person_id,
                                     purpose=f"application:read:{reception_number}")
        events = list(await session.scalars(select(ApplicationEvent).where(
            ApplicationEvent.application_id == application.id).order_by(ApplicationEvent.at, ApplicationEvent.id)))
        row = await _codes(session, actor, application)
        return InboxApplication(row, await attachments_of(session, application.id), events)


async def attachment_for(session_factory: async_sessionmaker[AsyncSession], actor: InboxActor,
                         reception_number: str, attachment_id: uuid.UUID) -> ApplicationAttachment:
    async with session_factory() as session, session.begin():
        application = await _mine(session, actor, reception_number)
        attachment = await session.get(ApplicationAttachment, attachment_id)
        if attachment is None or attachment.application_id != application.id:
            raise PortalError("NOT_FOUND", "This application has no such attachment.")
        await record_operator_action(session, operator=actor.label, subject_id=application.applicant_person_id,
                                     purpose=f"application:attachment:{reception_number}")
        return attachment


def _request_hash(reception_number: str, to_status: str, note: str | None) -> bytes:
    return hashlib.sha256(json.dumps([reception_number, to_status, note]).encode()).digest()


async def move(session_factory: async_sessionmaker[AsyncSession], actor: InboxActor, reception_number: str,
               to_status: str, note: str | None, *, idempotency_key: str | None) -> dict[str, Any]:
    """Move the application; the answer is {receptionNumber, status, from, at}. Refusals: FORBIDDEN (a reader),
    APPLICATION_ALREADY_DECIDED, APPLICATION_TRANSITION_INVALID, IDEMPOTENCY_KEY_REUSED (another request)."""
    if not actor.can_decide:
        raise PortalError("FORBIDDEN", "Your role may read applications, not move them.")
    if to_status not in STATUSES:
        raise PortalError("BAD_USER_INPUT", "Unknown status.", extensions={"field": "status"})
    if note is not None and len(note) > MAX_NOTE:
        raise PortalError("BAD_USER_INPUT", f"The note is at most {MAX_NOTE} characters.", extensions={"field": "note"})
    if to_status == CORRECTION_REQUESTED and not (note or "").strip():
        raise PortalError("BAD_USER_INPUT", "Say what to correct.", extensions={"field": "note"})
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 100:
        raise PortalError("IDEMPOTENCY_KEY_INVALID", "The Idempotency-Key is 1 to 100 characters.",
                          extensions={"header": "Idempotency-Key"})
    digest = _request_hash(reception_number, to_status, note)
    try:
        async with session_factory() as session, session.begin():
            if idempotency_key is not None:
                seen = await session.get(InboxIdempotency, (actor.agency_id, idempotency_key))
                if seen is not None:
                    if seen.request_hash != digest:
                        raise PortalError("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used for another "
                                          "request.", extensions={"header": "Idempotency-Key"})
                    return dict(seen.response)
            answer = await _move(session, actor, reception_number, to_status, note)
            if idempotency_key is not None:
                session.add(InboxIdempotency(agency_id=actor.agency_id, key=idempotency_key, request_hash=digest,
                                             response=answer, created_at=utcnow()))
            return answer
    except IntegrityError:
        # The same key, concurrently: the first one's answer is there now.
        async with session_factory() as session:
            seen = await session.get(InboxIdempotency, (actor.agency_id, idempotency_key or ""))
        if seen is None or seen.request_hash != digest:
            raise
        return dict(seen.response)


async def _move(session: AsyncSession, actor: InboxActor, reception_number: str, to_status: str, note: str | None
                ) -> dict[str, Any]:
    application = await _mine(session, actor, reception_number)
    from_status = application.status
    if from_status in DECIDED:
        raise PortalError("APPLICATION_ALREADY_DECIDED", "This application has been decided.")
    if from_status == WITHDRAWN:
        raise PortalError("APPLICATION_WITHDRAWN", "The applicant withdrew this application.")
    if to_status not in MOVES.get(from_status, frozenset()):
        raise PortalError("APPLICATION_TRANSITION_INVALID", f"An application in {from_status} cannot move to "
                          f"{to_status}.", extensions={"status": from_status})
    now = utcnow()
    values: dict[str, Any] = {"status": to_status, "updated_at": now}
    if to_status in DECIDED:
        values["decided_at"] = now
    moved = (await session.execute(update(Application).where(
        Application.id == application.id, Application.status == from_status).values(**values)
        .returning(Application.id))).first()
    if moved is None:  # moved meanwhile (by the applicant's withdrawal, or another decision): say which
        now_status = await session.scalar(select(Application.status).where(Application.id == application.id))
        if now_status == WITHDRAWN:
            raise PortalError("APPLICATION_WITHDRAWN", "The applicant withdrew this application meanwhile.")
        if now_status in DECIDED:
            raise PortalError("APPLICATION_ALREADY_DECIDED", "This application was decided meanwhile.")
        raise PortalError("APPLICATION_TRANSITION_INVALID", "The application was moved meanwhile.")
    event = ApplicationEvent(id=new_id(), application_id=application.id, at=now, from_status=from_status,
                             to_status=to_status, actor=actor.label, note=note)
    session.add(event)
    await record_operator_action(session, operator=actor.label, subject_id=application.applicant_person_id,
                                 purpose=f"application:{to_status}:{reception_number}")
    await notify_move(session, application, actor.agency_id, event.id, to_status, note, now=now)
    return {"receptionNumber": reception_number, "status": to_status, "from": from_status, "at": now.isoformat()}
