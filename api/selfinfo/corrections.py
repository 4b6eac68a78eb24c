"""訂正請求: the person (or a parent, or a proxy with records:read) asks the agency that provided an item to
correct it; the request waits in that agency's queue; the agency answers under its key; the answer reaches the
person as a notice. The request and the answer are both on the person's record (exchange records with the portal
as requester and the agency as provider). The agency sees the person only by its own code.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import AgencyPersonCode
from api.agencies.service import assign_code
from api.exchange.legal_table import legal_table
from api.exchange.models import ExchangeCopy, ExchangeRecord
from api.notices.models import Audience, Category
from api.notices.service import NewNotice, publish_notice
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import InvalidPageRequest, Page, PageRequest, page_of
from api.selfinfo.held import append_to_log, may_act, portal_agency
from api.selfinfo.models import CorrectionRequest, CorrectionStatus

SessionFactory = async_sessionmaker[AsyncSession]
MAX_MESSAGE = 2000
REQUEST_DUTY = "訂正請求"
ANSWER_DUTY = "訂正請求への回答"


@dataclass(frozen=True)
class QueuedCorrection:
    request: CorrectionRequest
    person_code: str  # the answering agency's own code for the person


def _message(text: str, field: str) -> str:
    if not text.strip() or len(text) > MAX_MESSAGE:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"The message must have 1 to {MAX_MESSAGE} characters.",
                          extensions={"field": field})
    return text


async def _on_record(session: AsyncSession, request: CorrectionRequest, *, duty: str, outcome: str,
                     now: datetime) -> None:
    portal = await portal_agency(session)
    record = ExchangeRecord(requester_agency_id=portal.id, provider_agency_id=request.provider_agency_id,
                            person_id=request.person_id, duty=duty, item_names=[request.item_name.split("/")[0]],
                            legal_row_id=None, legal_table_version=legal_table().version, requested_at=now,
                            provided_at=now, processing_type="correction", outcome=outcome)
    session.add(record)
    await session.flush()
    await append_to_log(session, [record])


async def request_correction(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID,
                             item_id: uuid.UUID, message: str, *, today: date) -> CorrectionRequest:
    """Ask for a correction of one held item (a copy of this subject's), to the agency that provided it."""
    _message(message, "message")
    async with session_factory() as session, session.begin():
        await may_act(session, actor_id, subject_id, today=today, purpose="selfinfo:correction")
        copy = await session.scalar(select(ExchangeCopy).where(ExchangeCopy.id == item_id,
                                                               ExchangeCopy.person_id == subject_id))
        if copy is None:
            raise PortalError(ErrorCode.NOT_FOUND, "No such item.")
        now = utcnow()
        request = CorrectionRequest(person_id=subject_id, requested_by_person_id=actor_id,
                                    provider_agency_id=copy.provider_agency_id,
                                    item_name=copy.item_kind + (f"/{copy.item_key}" if copy.item_key else ""),
                                    message=message, status=CorrectionStatus.OPEN, created_at=now)
        session.add(request)
        await session.flush()
        await _on_record(session, request, duty=REQUEST_DUTY, outcome="requested", now=now)
    return request


async def person_requests(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID, *,
                          today: date) -> list[CorrectionRequest]:
    async with session_factory() as session, session.begin():
        await may_act(session, actor_id, subject_id, today=today, purpose="selfinfo:corrections")
        return list(await session.scalars(select(CorrectionRequest).where(CorrectionRequest.person_id == subject_id)
                                          .order_by(CorrectionRequest.created_at.desc()).limit(100)))


async def agency_queue(read_session_factory: SessionFactory, agency_id: uuid.UUID, status: CorrectionStatus,
                       request: PageRequest) -> Page[QueuedCorrection]:
    """The agency's requests in this status, oldest first, each with the agency's own code for the person."""
    async with read_session_factory() as session:
        query = (select(CorrectionRequest, AgencyPersonCode.code)
                 .join(AgencyPersonCode, (AgencyPersonCode.person_id == CorrectionRequest.person_id)
                       & (AgencyPersonCode.agency_id == CorrectionRequest.provider_agency_id), isouter=True)
                 .where(CorrectionRequest.provider_agency_id == agency_id, CorrectionRequest.status == status)
                 .order_by(CorrectionRequest.created_at, CorrectionRequest.id).limit(request.first + 1))
        if request.after is not None:
            try:
                at, ident = datetime.fromisoformat(request.after[0]), uuid.UUID(request.after[1])
                if at.tzinfo is None or len(request.after) != 2:
                    raise ValueError(request.after[0])
            except (ValueError, IndexError) as error:
                raise InvalidPageRequest("the cursor is not valid") from error
            query = query.where((CorrectionRequest.created_at > at)
                                | ((CorrectionRequest.created_at == at) & (CorrectionRequest.id > ident)))
        rows = [QueuedCorrection(row, code or "") for row, code in (await session.execute(query)).all()]
    return page_of(rows, request, key=lambda q: (q.request.created_at.isoformat(), str(q.request.id)))


async def answer(session_factory: SessionFactory, agency_id: uuid.UUID, request_id: uuid.UUID,
                 outcome: CorrectionStatus, message: str, *, today: date) -> QueuedCorrection:
    """The providing agency answers once; the person gets it as a notice, and it goes on their record."""
    if outcome is CorrectionStatus.OPEN:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "The outcome is corrected or rejected.",
                          extensions={"field": "outcome"})
    _message(message, "message")
    async with session_factory() as session, session.begin():
        now = utcnow()
        answered = await session.scalar(
            update(CorrectionRequest)
            .where(CorrectionRequest.id == request_id, CorrectionRequest.provider_agency_id == agency_id,
                   CorrectionRequest.status == CorrectionStatus.OPEN)
            .values(status=outcome, answer=message, answered_at=now).returning(CorrectionRequest))
        if answered is None:
            existing = await session.get(CorrectionRequest, request_id)
            if existing is None or existing.provider_agency_id != agency_id:
                raise PortalError(ErrorCode.NOT_FOUND, "No such correction request.")
            raise PortalError(ErrorCode.CORRECTION_ALREADY_ANSWERED, "This correction request was already answered.")
        code = await assign_code(session, agency_id, answered.person_id)
        verdict = "訂正しました" if outcome is CorrectionStatus.CORRECTED else "訂正しませんでした"
        await publish_notice(session, agency_id, NewNotice(
            audience=Audience.PERSON, category=Category.GENERAL, recipient_code=code,
            title=f"訂正請求への回答: {verdict}", body=message, reference=f"correction:{answered.id}"),
            now=now, today=today)
        await _on_record(session, answered, duty=ANSWER_DUTY, outcome=outcome.value, now=now)
    return QueuedCorrection(answered, code)
