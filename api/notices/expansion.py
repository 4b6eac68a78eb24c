"""Expanding a notice to a segment (or to everyone) into recipients and delivery jobs, in chunks.

A notice to everyone is 100 million inbox rows and more delivery jobs: one transaction would hold locks and
grow the WAL for an hour, send nothing until it commits, and start again from nothing after a crash. Instead
the publish writes the notice, its ``notice_expansions`` row and the first chunk (so the first pushes leave at
once, and a small segment is done there and then); workers (``mynaportal worker``, or ``mynaportal
notices-expand``) write the rest, one chunk per transaction, in person-id order. Each chunk moves the cursor in
the same transaction as its rows, so a process killed at any moment resumes exactly after the last committed
chunk, and the primary keys (recipient: notice + person; job: notice + channel + target) refuse duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, String, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.notices.broker import announce
from api.notices.models import (
    Channel,
    DeliveryServiceLink,
    DeliveryState,
    Notice,
    NoticeDelivery,
    NoticeExpansion,
    NoticeRecipient,
)
from api.notices.segments import Segment, segment_condition
from api.people.models import Person
from api.platform.db import UTCDateTime, utcnow
from push.models import PushSubscription

CHUNK = 5_000  # people per transaction: ~1 s of writing on PostgreSQL here, small enough to lock little


@dataclass(frozen=True)
class Chunk:
    notice_id: uuid.UUID
    written: int  # recipients this chunk
    expanded: int  # recipients so far
    finished: bool


async def write_recipients(session: AsyncSession, notice: Notice, condition: ColumnElement[bool], now: datetime, *,
                           after: uuid.UUID | None = None, upto: uuid.UUID | None = None) -> int:
    """INSERT … SELECT the people matching ``condition`` (ids in (after, upto]) as recipients, and their devices'
    and delivery services' jobs: three statements however many people. Returns the recipients written."""
    notice_id = literal(notice.id, NoticeRecipient.notice_id.type)
    publish_at = literal(notice.publish_at, UTCDateTime())
    written = (await session.execute(insert(NoticeRecipient).from_select(
        ["notice_id", "person_id", "publish_at", "category"],
        select(notice_id, Person.id, publish_at, literal(notice.category.value, String())).where(condition),
    ))).rowcount
    window = [NoticeRecipient.notice_id == notice.id]
    if after is not None:
        window.append(NoticeRecipient.person_id > after)
    if upto is not None:
        window.append(NoticeRecipient.person_id <= upto)
    jobs = ["notice_id", "channel", "target_id", "person_id", "state", "attempts", "available_at", "updated_at"]
    common = (literal(DeliveryState.PENDING.value, String()), literal(0), publish_at, literal(now, UTCDateTime()))
    await session.execute(insert(NoticeDelivery).from_select(jobs, select(
        notice_id, literal(Channel.WEBPUSH.value, String()), PushSubscription.id, PushSubscription.person_id, *common,
    ).join(NoticeRecipient, NoticeRecipient.person_id == PushSubscription.person_id).where(*window)))
    await session.execute(insert(NoticeDelivery).from_select(jobs, select(
        notice_id, literal(Channel.WEBHOOK.value, String()), DeliveryServiceLink.id, DeliveryServiceLink.person_id,
        *common,
    ).join(NoticeRecipient, NoticeRecipient.person_id == DeliveryServiceLink.person_id).where(*window)))
    if written is None or written < 0:  # a driver that does not count INSERT … SELECT
        written = await session.scalar(select(func.count()).where(*window)) or 0
    return int(written)


async def expand_chunk(session: AsyncSession, notice: Notice, expansion: NoticeExpansion, *, now: datetime,
                       chunk: int = CHUNK) -> Chunk:
    """Write the next ``chunk`` people of the segment in the caller's transaction and move the cursor."""
    condition = segment_condition(Segment.from_json(notice.segment), expansion.segment_day)
    after = expansion.after_person_id
    if after is not None:
        condition = condition & (Person.id > after)
    # The chunk's last person: the window is then a plain range on the primary key.
    upto = await session.scalar(select(Person.id).where(condition).order_by(Person.id).offset(chunk - 1).limit(1))
    window = condition if upto is None else condition & (Person.id <= upto)
    written = await write_recipients(session, notice, window, now, after=after, upto=upto)
    finished = upto is None
    await session.execute(
        update(NoticeExpansion).where(NoticeExpansion.notice_id == notice.id)
        .values(after_person_id=upto if upto is not None else after, expanded=NoticeExpansion.expanded + written,
                chunks=NoticeExpansion.chunks + 1, finished_at=now if finished else None)
        .execution_options(synchronize_session=False))
    await session.execute(update(Notice).where(Notice.id == notice.id)
                          .values(recipient_count=Notice.recipient_count + written)
                          .execution_options(synchronize_session=False))
    if written and notice.publish_at <= now:
        await announce(session, notice.id)  # the new recipients' open inboxes learn of it now
    return Chunk(notice.id, written, expansion.expanded + written, finished)


async def start_expansion(session: AsyncSession, notice: Notice, *, today: date, now: datetime,
                          chunk: int | None = None) -> int:
    """In the publishing transaction: the expansion's row and its first chunk; the recipients written so far."""
    expansion = NoticeExpansion(notice_id=notice.id, segment_day=today, after_person_id=None, expanded=0, chunks=0,
                                started_at=now)
    session.add(expansion)
    await session.flush()
    return (await expand_chunk(session, notice, expansion, now=now, chunk=chunk or CHUNK)).expanded


async def expand_next(session_factory: async_sessionmaker[AsyncSession], *, chunk: int = CHUNK,
                      now: Callable[[], datetime] = utcnow) -> Chunk | None:
    """One chunk of the oldest unfinished expansion that no other process holds, in its own transaction;
    None when nothing is left to expand. Any number of processes may call this concurrently."""
    async with session_factory() as session, session.begin():
        # PostgreSQL: the row lock is the claim (a second process skips to another expansion, or finds none);
        # SQLite: the write transaction (BEGIN IMMEDIATE) already serialises expanders.
        expansion = await session.scalar(
            select(NoticeExpansion).where(NoticeExpansion.finished_at.is_(None))
            .order_by(NoticeExpansion.started_at, NoticeExpansion.notice_id).limit(1)
            .with_for_update(skip_locked=True))
        if expansion is None:
            return None
        notice = await session.get_one(Notice, expansion.notice_id)
        return await expand_chunk(session, notice, expansion, now=now(), chunk=chunk)


@dataclass(frozen=True)
class PendingExpansion:
    notice_id: uuid.UUID
    title: str
    expanded: int
    total: int  # expanded + people of the segment still to come (as counted now)


async def pending_expansions(session: AsyncSession) -> list[PendingExpansion]:
    """Unfinished expansions with their progress (for the CLI's progress bar)."""
    rows = (await session.execute(select(NoticeExpansion, Notice).join(Notice, Notice.id == NoticeExpansion.notice_id)
                                  .where(NoticeExpansion.finished_at.is_(None))
                                  .order_by(NoticeExpansion.started_at))).all()
    found = []
    for expansion, notice in rows:
        condition = segment_condition(Segment.from_json(notice.segment), expansion.segment_day)
        if expansion.after_person_id is not None:
            condition = condition & (Person.id > expansion.after_person_id)
        remaining = await session.scalar(select(func.count()).select_from(Person).where(condition)) or 0
        found.append(PendingExpansion(notice.id, notice.title, expansion.expanded, expansion.expanded + remaining))
    return found
