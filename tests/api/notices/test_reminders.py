from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from api.notices.models import Category, NoticeRecipient, ReminderRun
from api.notices.reminders import NewProcedure, complete_procedure, register_procedure, run_due_reminders
from api.notices.segments import Segment
from tests.api.notices.conftest import Demo

DEADLINE = date(2026, 6, 30)
NOW = datetime(2026, 6, 23, 0, 0, tzinfo=UTC)


async def test_a_reminder_fires_for_who_has_not_done_it_and_only_once(demo: Demo) -> None:
    async with demo.factory() as session, session.begin():
        procedure = await register_procedure(session, demo.city.id, NewProcedure(
            "genkyo-todoke", "児童手当の現況届", Category.CHILD_REARING, DEADLINE, (30, 7, 1),
            Segment(has_child_under=18)))
        await complete_procedure(session, procedure.id, demo.mother, now=NOW)
        await complete_procedure(session, procedure.id, demo.mother, now=NOW)  # idempotent
    async with demo.factory() as session, session.begin():
        not_yet = await run_due_reminders(session, now=NOW, today=date(2026, 5, 30))
    async with demo.factory() as session, session.begin():
        early = await run_due_reminders(session, now=NOW, today=date(2026, 5, 31))
    async with demo.factory() as session, session.begin():
        fired = await run_due_reminders(session, now=NOW, today=date(2026, 6, 23))
    async with demo.factory() as session, session.begin():
        again = await run_due_reminders(session, now=NOW, today=date(2026, 6, 24))
    async with demo.factory() as session:
        [notice_id] = fired
        people = set(await session.scalars(select(NoticeRecipient.person_id)
                                           .where(NoticeRecipient.notice_id == notice_id)))
        runs = sorted((await session.execute(select(ReminderRun.offset_days, ReminderRun.notice_id))).all())
    assert (not_yet, len(early)) == ([], 1)  # 30 days before the deadline is 2026-05-31
    assert people == {demo.father}
    assert again == []
    assert runs == [(7, notice_id), (30, early[0])]
