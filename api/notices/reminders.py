"""Push-type reminders (プッシュ型お知らせ): a procedure with a deadline reminds, at configured offsets
before it, the people it applies to who have not done it yet.

Each (procedure, offset) fires at most once, whatever the number of workers: the reminder_runs primary key
decides. If the worker was down past several offsets, only the latest one fires (one reminder, not three).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.notices.models import Audience, Category, Priority, Procedure, ProcedureCompletion, ReminderRun
from api.notices.segments import Segment
from api.notices.service import NewNotice, publish_notice, validate_action_url
from api.platform.errors import PortalError

MAX_OFFSETS = 10


@dataclass(frozen=True)
class NewProcedure:
    slug: str
    title: str
    category: Category
    deadline: date
    offsets_days: tuple[int, ...]
    segment: Segment
    action_url: str | None = None


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def register_procedure(session: AsyncSession, agency_id: uuid.UUID, new: NewProcedure) -> Procedure:
    if not new.offsets_days or len(new.offsets_days) > MAX_OFFSETS \
            or any(not 0 <= days <= 366 for days in new.offsets_days):
        raise PortalError("BAD_USER_INPUT", f"Give 1 to {MAX_OFFSETS} reminder offsets of 0 to 366 days.")
    if not 1 <= len(new.title) <= 150:
        raise PortalError("BAD_USER_INPUT", "The title must have 1 to 150 characters.")
    if new.action_url is not None:
        validate_action_url(new.action_url)
    procedure = Procedure(agency_id=agency_id, slug=new.slug, title=new.title, category=new.category,
                          deadline=new.deadline, action_url=new.action_url, segment=new.segment.to_json(),
                          reminder_offsets=" ".join(str(days) for days in sorted(set(new.offsets_days),
                                                                                  reverse=True)))
    session.add(procedure)
    await session.flush()
    return procedure


async def complete_procedure(session: AsyncSession, procedure_id: uuid.UUID, person_id: uuid.UUID, *,
                             now: datetime) -> None:
    """Record that the person did it (idempotent): later reminders skip them."""
    await session.execute(_insert(session)(ProcedureCompletion)
                          .values(procedure_id=procedure_id, person_id=person_id, completed_at=now)
                          .on_conflict_do_nothing())


async def run_due_reminders(session: AsyncSession, *, now: datetime, today: date) -> list[uuid.UUID]:
    """Publish the reminders due ``today``; returns the new notices' ids. Call it in a transaction."""
    fired: list[uuid.UUID] = []
    procedures = await session.scalars(select(Procedure).where(Procedure.deadline >= today)
                                       .order_by(Procedure.deadline, Procedure.id))
    for procedure in list(procedures):
        offsets = sorted(int(days) for days in procedure.reminder_offsets.split())
        due = [days for days in offsets if procedure.deadline - timedelta(days=days) <= today]
        if not due:
            continue
        latest = due[0]  # the smallest offset whose day has come
        claimed = await session.scalar(
            _insert(session)(ReminderRun).values(procedure_id=procedure.id, offset_days=latest, ran_at=now)
            .on_conflict_do_nothing().returning(ReminderRun.offset_days))
        if claimed is None:
            continue  # already fired (by this or another worker)
        for skipped in due[1:]:  # missed earlier offsets are not sent late
            await session.execute(_insert(session)(ReminderRun)
                                  .values(procedure_id=procedure.id, offset_days=skipped, ran_at=now)
                                  .on_conflict_do_nothing())
        segment = Segment.from_json(procedure.segment)
        days_left = (procedure.deadline - today).days
        published = await publish_notice(
            session, procedure.agency_id,
            NewNotice(audience=Audience.EVERYONE if segment.empty else Audience.SEGMENT,
                      segment=None if segment.empty else segment, category=procedure.category,
                      priority=Priority.HIGH if days_left <= 1 else Priority.NORMAL,
                      title=f"{procedure.title}の期限まであと{days_left}日です"[:200],
                      body=f"{procedure.title}の期限は{procedure.deadline:%Y年%m月%d日}です。"
                           "お済みでない方はお手続きください。",
                      action_url=procedure.action_url, reference=f"reminder:{procedure.id.hex}:{latest}",
                      expires_at=datetime.combine(procedure.deadline + timedelta(days=1), datetime.min.time(),
                                                  tzinfo=now.tzinfo)),
            now=now, today=today, procedure_id=procedure.id,
            exclude=select(ProcedureCompletion.person_id).where(ProcedureCompletion.procedure_id == procedure.id),
        )
        await session.execute(ReminderRun.__table__.update()
                              .where(ReminderRun.procedure_id == procedure.id, ReminderRun.offset_days == latest)
                              .values(notice_id=published.notice.id))
        fired.append(published.notice.id)
    return fired
