"""取下げ: the applicant withdraws a draft, or an application sent and not yet decided (受付, 審査中, 補正依頼).

One conditional move (a decision committed first wins: the withdrawal is then refused with
APPLICATION_ALREADY_DECIDED, and the reverse, APPLICATION_WITHDRAWN for the municipality), on the application's
history with the applicant's reason. A sent application stays in the municipality's inbox, as withdrawn, and the
person gets the municipality's notice of it, in the same transaction; a draft the municipality never saw is only
closed. The applicant must still be allowed to act for the person applied for (on that person's record).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.applications.models import DECIDED, DRAFT, WITHDRAWN, Application, ApplicationEvent
from api.applications.notify import notify_move
from api.applications.offerings import municipality_agency_id
from api.platform.db import new_id, utcnow
from api.platform.errors import PortalError
from api.platform.scopes import APPLICATIONS_WRITE
from api.proxies.service import acting_for

MAX_REASON = 500


def check_withdrawable(application: Application) -> None:
    if application.status in DECIDED:
        raise PortalError("APPLICATION_ALREADY_DECIDED", "This application has been decided; it cannot be withdrawn.")
    if application.status == WITHDRAWN:
        raise PortalError("APPLICATION_WITHDRAWN", "This application has been withdrawn.")


async def _mine(session: AsyncSession, actor_id: uuid.UUID, application_id: uuid.UUID) -> Application:
    application = await session.scalar(select(Application).where(
        Application.id == application_id, Application.applicant_person_id == actor_id))
    if application is None:
        raise PortalError("NOT_FOUND", "No such application of yours.")
    return application


async def withdraw(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID,
                   application_id: uuid.UUID, reason: str | None, *, today: date) -> Application:
    """The application, withdrawn. Refusals: NOT_FOUND (not the applicant's), APPLICATION_ALREADY_DECIDED,
    APPLICATION_WITHDRAWN (already), NOT_AUTHORIZED_FOR_PERSON, BAD_USER_INPUT (a reason over 500 characters)."""
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise PortalError("BAD_USER_INPUT", f"The reason is at most {MAX_REASON} characters.",
                          extensions={"field": "reason"})
    async with session_factory() as session, session.begin():
        application = await _mine(session, actor_id, application_id)
        check_withdrawable(application)
        if await acting_for(session, actor_id, application.subject_person_id, APPLICATIONS_WRITE, today=today,
                            purpose=f"application:{application.procedure_code}:withdraw") is None:
            raise PortalError("NOT_AUTHORIZED_FOR_PERSON", "You may no longer act for this person.")
        from_status, now = application.status, utcnow()
        moved = (await session.execute(
            update(Application).where(Application.id == application.id, Application.status == from_status)
            .values(status=WITHDRAWN, updated_at=now).returning(Application.id),
            execution_options={"synchronize_session": False})).first()
        if moved is None:  # decided (or withdrawn) meanwhile: say which
            await session.refresh(application)
            check_withdrawable(application)
            raise PortalError("APPLICATION_TRANSITION_INVALID", "The application was moved meanwhile; reload it.")
        event_id = new_id()
        session.add(ApplicationEvent(id=event_id, application_id=application.id, at=now, from_status=from_status,
                                     to_status=WITHDRAWN, actor="person", note=reason))
        await session.flush()
        values: dict[str, Any] = {"status": WITHDRAWN, "updated_at": now}
        session.expunge(application)
        for name, value in values.items():
            setattr(application, name, value)
        if from_status != DRAFT:  # the municipality saw it: its notice confirms the withdrawal to the person
            agency_id = await municipality_agency_id(session, application.municipality_code)
            await notify_move(session, application, agency_id, event_id, WITHDRAWN, reason, now=now)
        return application
