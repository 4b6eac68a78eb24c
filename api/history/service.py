"""Units of work on the person's record: who may read it, a page, the newest entries for the live feed.

The person reads their own record; a parent their minor child's; a proxy only with a grant carrying
records:read. Every read by someone other than the person goes on the person's record (an access record,
written in the same transaction as the read).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.history.entries import Entry, RecordFilter, own_record_page, record_page
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import Page, PageRequest
from api.platform.scopes import RECORDS_READ
from api.proxies.service import ActingAs, acting_for

SessionFactory = async_sessionmaker[AsyncSession]
FEED_WINDOW = 50  # entries a live feed looks at per wake-up


async def may_read(session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, *, today: date,
                   purpose: str) -> ActingAs:
    """Refuse unless the actor may read the subject's record; a read for someone else is recorded."""
    acting = await acting_for(session, actor_id, subject_id, RECORDS_READ, today=today, purpose=purpose)
    if acting is None:
        raise PortalError(ErrorCode.NOT_AUTHORIZED_FOR_PERSON, "You may not read this person's record.")
    return acting


async def read_record(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID,
                      request: PageRequest, filters: RecordFilter, *, today: date) -> Page[Entry]:
    filters.check()
    if actor_id == subject_id and filters == RecordFilter():
        # The person's own record as the app opens it: nothing to check or record, the hot path.
        return await own_record_page(session_factory.kw["bind"], subject_id, request, now=utcnow())
    async with session_factory() as session, session.begin():
        # The page is read before the read is recorded (in the same transaction, so a refusal returns nothing):
        # the reader's page does not show the read being made.
        page = await record_page(session, subject_id, request, filters, now=utcnow())
        await may_read(session, actor_id, subject_id, today=today, purpose="records:history")
    return page


Mark = tuple[datetime, str, str]  # (time, source, id hex): the record's order


async def open_feed(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID, *,
                    today: date) -> tuple[Mark | None, ActingAs]:
    """Check the reader when a live feed opens (recorded like a read): the newest entry's mark so far, and the
    basis the reader reads on (a proxy's grant is then watched while the feed is open: api.platform.feed_guard)."""
    async with session_factory() as session, session.begin():
        acting = await may_read(session, actor_id, subject_id, today=today, purpose="records:live")
        page = await record_page(session, subject_id, PageRequest(1, None), RecordFilter(), now=utcnow())
    return (_mark(page.items[0][1]) if page.items else None), acting


def _mark(entry: Entry) -> Mark:
    return entry.at, entry.source, entry.id.hex


async def entries_after(read_session_factory: SessionFactory, subject_id: uuid.UUID,
                        mark: Mark | None) -> tuple[list[Entry], Mark | None]:
    """Entries newer than ``mark``, oldest first, and the new mark (the live feed's poll)."""
    page = await own_record_page(read_session_factory.kw["bind"], subject_id, PageRequest(FEED_WINDOW, None),
                                 now=utcnow())
    newer = [entry for _, entry in page.items if mark is None or _mark(entry) > mark]
    newer.reverse()
    return newer, (_mark(newer[-1]) if newer else mark)
