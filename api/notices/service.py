"""Notice rules: an agency publishes (to one person by its own code, a segment, or everyone); a person,
their parent or their proxy reads and marks; the publishing agency sees delivery status.

Publishing writes the notice, its recipients and every delivery job in one transaction (the outbox),
so a crash loses nothing and workers send only what was committed; a segment or everyone is expanded in
chunks after its first one (api/notices/expansion.py), each chunk one transaction, resumable.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.models import AgencyPersonCode
from api.agencies.service import person_for_code
from api.notices.attachments import check_references
from api.notices.broker import announce
from api.notices.expansion import start_expansion, write_recipients
from api.notices.models import (
    Audience,
    Category,
    Channel,
    DeliveryState,
    Notice,
    NoticeAttachment,
    NoticeDelivery,
    NoticeRecipient,
    Priority,
)
from api.notices.segments import Segment, segment_condition
from api.people.models import Person
from api.platform.db import new_id
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import InvalidPageRequest, Page, PageRequest, page_of
from api.platform.scopes import NOTICES_READ, NOTICES_WRITE
from api.proxies.service import acting_for

MAX_TITLE = 200
MAX_BODY = 4000
MAX_ATTACHMENTS = 20
SCHEDULE_HORIZON = timedelta(days=366)
_KIND = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class AttachmentSpec:
    kind: str  # "document", "payment-slip", ...: the owning domain's name for it
    reference: str  # that domain's id
    label: str


@dataclass(frozen=True)
class NewNotice:
    audience: Audience
    category: Category
    title: str
    body: str
    priority: Priority = Priority.NORMAL
    recipient_code: str | None = None  # the agency's own code for the person (Audience.PERSON)
    segment: Segment | None = None  # Audience.SEGMENT
    action_url: str | None = None
    publish_at: datetime | None = None  # None: now
    expires_at: datetime | None = None
    reference: str | None = None
    attachments: tuple[AttachmentSpec, ...] = field(default=())


@dataclass(frozen=True)
class Published:
    notice: Notice
    replayed: bool  # the same reference was published before: nothing new was written


def _bad(message: str) -> PortalError:
    return PortalError("BAD_USER_INPUT", message)


def validate_action_url(url: str) -> str:
    parts = urlsplit(url)
    if len(url) > 500 or parts.scheme != "https" or not parts.hostname:
        raise _bad("The action link must be an https URL of at most 500 characters.")
    return url


def validate_notice(new: NewNotice, now: datetime, *, recipient_known: bool = False
                    ) -> tuple[datetime, Segment | None]:
    """The publish time and segment; BAD_USER_INPUT for a notice that cannot be published. ``recipient_known``:
    the publisher names the person by id (api/notices/to_person.py), not by its code."""
    if not new.title.strip() or len(new.title) > MAX_TITLE:
        raise _bad(f"The title must have 1 to {MAX_TITLE} characters.")
    if not new.body.strip() or len(new.body) > MAX_BODY:
        raise _bad(f"The body must have 1 to {MAX_BODY} characters.")
    if new.action_url is not None:
        validate_action_url(new.action_url)
    if new.reference is not None and not 1 <= len(new.reference) <= 100:
        raise _bad("The reference must have 1 to 100 characters.")
    if len(new.attachments) > MAX_ATTACHMENTS:
        raise _bad(f"A notice carries at most {MAX_ATTACHMENTS} attachments.")
    for attachment in new.attachments:
        if not _KIND.match(attachment.kind) or not 1 <= len(attachment.reference) <= 100 \
                or not 1 <= len(attachment.label) <= 200:
            raise _bad("An attachment needs a kind (lower-case, up to 40), a reference and a label.")
    if len({(a.kind, a.reference) for a in new.attachments}) != len(new.attachments):
        raise _bad("The same attachment is listed twice.")
    publish_at = max(new.publish_at or now, now)
    if publish_at - now > SCHEDULE_HORIZON:
        raise _bad("A notice can be scheduled at most 366 days ahead.")
    if new.expires_at is not None and new.expires_at <= publish_at:
        raise _bad("The expiry must be after the publish time.")
    segment = new.segment
    if new.audience is Audience.PERSON and ((not new.recipient_code and not recipient_known) or segment is not None):
        raise _bad("A notice to one person needs the person's code at your agency, and no segment.")
    if new.audience is Audience.SEGMENT and (segment is None or segment.empty):
        raise _bad("A notice to a segment needs at least one criterion.")
    if new.audience is Audience.EVERYONE and (segment is not None or new.recipient_code):
        raise _bad("A notice to everyone takes no segment and no recipient.")
    return publish_at, segment


def _same(notice: Notice, new: NewNotice) -> bool:
    return (notice.audience, notice.category, notice.priority, notice.title, notice.body, notice.action_url) == (
        new.audience, new.category, new.priority, new.title, new.body, new.action_url)


async def publish_notice(
    session: AsyncSession, agency_id: uuid.UUID, new: NewNotice, *, now: datetime, today: date,
    procedure_id: uuid.UUID | None = None, exclude: Select[tuple[uuid.UUID]] | None = None,
    recipient_id: uuid.UUID | None = None,
) -> Published:
    """Write the notice, its recipients and its delivery jobs in the caller's transaction.

    ``exclude`` (person ids) removes people from a segment (reminders: those who already did it).
    ``recipient_id``: the portal's own domains that already know the person (certificates) name them directly,
    instead of by an agency's code (which would be two lookups per notice: the code, then its person).
    """
    publish_at, segment = validate_notice(new, now, recipient_known=recipient_id is not None)
    # The insert comes first: on SQLite a transaction that reads before it writes cannot wait for the
    # write lock (SQLITE_BUSY), so the unique key on (agency, reference) must be the first statement.
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    notice_id = await session.scalar(
        dialect.insert(Notice).values(
            id=new_id(), agency_id=agency_id, reference=new.reference, audience=new.audience,
            segment=segment.to_json() if segment else None, category=new.category, priority=new.priority,
            title=new.title, body=new.body, action_url=new.action_url, publish_at=publish_at,
            expires_at=new.expires_at, procedure_id=procedure_id, recipient_count=0, created_at=now,
        ).on_conflict_do_nothing(index_elements=["agency_id", "reference"]).returning(Notice.id))
    if notice_id is None:
        # This reference was published before (perhaps a moment ago, concurrently): replay it.
        existing = await by_reference(session, agency_id, new.reference or "")
        assert existing is not None
        return replay(existing, new)
    notice = await session.get_one(Notice, notice_id)
    person_id: uuid.UUID | None = None
    if new.audience is Audience.PERSON and recipient_id is not None:
        person_id = recipient_id
    elif new.audience is Audience.PERSON:
        assert new.recipient_code is not None
        person_id = await person_for_code(session, agency_id, new.recipient_code)
        if person_id is None:
            await session.delete(notice)  # nothing stays behind, even if the caller commits
            await session.flush()
            raise PortalError("NOT_FOUND", "No person has this code at your agency.")
    try:
        await check_references(session, agency_id, new.attachments)
    except PortalError:
        await session.delete(notice)
        await session.flush()
        raise
    session.add_all(NoticeAttachment(notice_id=notice.id, kind=a.kind, reference=a.reference, label=a.label)
                    for a in new.attachments)
    if person_id is None and exclude is None:
        # A segment or everyone: the first chunk now, the rest by the workers' resumable expansion.
        notice.recipient_count = await start_expansion(session, notice, today=today, now=now)
        return Published(notice, replayed=False)  # each chunk announces its own recipients
    condition: ColumnElement[bool] = (
        Person.id == person_id if person_id is not None else segment_condition(segment or Segment(), today)
    )
    if exclude is not None:  # reminders: those who did it already are left out, all in this transaction
        condition = condition & Person.id.not_in(exclude)
    notice.recipient_count = await write_recipients(session, notice, condition, now)
    if publish_at <= now:
        await announce(session, notice.id)
    return Published(notice, replayed=False)


async def by_reference(session: AsyncSession, agency_id: uuid.UUID, reference: str) -> Notice | None:
    return await session.scalar(select(Notice).where(Notice.agency_id == agency_id, Notice.reference == reference))


def replay(existing: Notice, new: NewNotice) -> Published:
    if not _same(existing, new):
        raise PortalError(ErrorCode.NOTICE_REFERENCE_REUSED, "This reference was already used for a different notice.")
    return Published(existing, replayed=True)


# --- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilter:
    unread: bool | None = None  # True: only unread; False: only read; None: both
    category: Category | None = None
    archived: bool = False


@dataclass(frozen=True)
class InboxItem:
    notice: Notice
    person_id: uuid.UUID
    read_at: datetime | None
    archived_at: datetime | None


async def _may(session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, scope: str, *,
               today: date, purpose: str) -> None:
    # Seam to the proxies domain: self, parent of a minor, or an active grant carrying the scope.
    if await acting_for(session, actor_id, subject_id, scope, today=today, purpose=purpose) is None:
        raise PortalError("FORBIDDEN", "You may not see or change this person's notices.")


def _visible(subject_id: uuid.UUID, now: datetime) -> list[ColumnElement[bool]]:
    return [NoticeRecipient.person_id == subject_id, NoticeRecipient.publish_at <= now,
            or_(Notice.expires_at.is_(None), Notice.expires_at > now)]


def _item(recipient: NoticeRecipient, notice: Notice) -> InboxItem:
    return InboxItem(notice, recipient.person_id, recipient.read_at, recipient.archived_at)


async def inbox_page(
    session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, request: PageRequest,
    inbox_filter: InboxFilter, *, now: datetime, today: date,
) -> Page[InboxItem]:
    """Newest first; published and not expired only. A read by someone else is recorded."""
    await _may(session, actor_id, subject_id, NOTICES_READ, today=today, purpose="notices:list")
    query = (select(NoticeRecipient, Notice).join(Notice, Notice.id == NoticeRecipient.notice_id)
             .where(*_visible(subject_id, now))
             .order_by(NoticeRecipient.publish_at.desc(), NoticeRecipient.notice_id.desc())
             .limit(request.first + 1))
    if inbox_filter.unread is not None:
        query = query.where(NoticeRecipient.read_at.is_(None) if inbox_filter.unread
                            else NoticeRecipient.read_at.is_not(None))
    if inbox_filter.category is not None:
        query = query.where(NoticeRecipient.category == inbox_filter.category)
    query = query.where(NoticeRecipient.archived_at.is_not(None) if inbox_filter.archived
                        else NoticeRecipient.archived_at.is_(None))
    if request.after is not None:
        published, notice_id = _inbox_cursor(request.after)
        query = query.where(or_(NoticeRecipient.publish_at < published,
                                (NoticeRecipient.publish_at == published) & (NoticeRecipient.notice_id < notice_id)))
    rows = [_item(recipient, notice) for recipient, notice in (await session.execute(query))]
    return page_of(rows, request, key=lambda item: (item.notice.publish_at.isoformat(), str(item.notice.id)))


def _inbox_cursor(after: tuple[str, ...]) -> tuple[datetime, uuid.UUID]:
    try:
        published, notice_id = after
        return datetime.fromisoformat(published), uuid.UUID(notice_id)
    except ValueError as error:
        raise InvalidPageRequest("the cursor is not valid") from error


async def inbox_item(
    session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, notice_id: uuid.UUID, *,
    now: datetime, today: date,
) -> InboxItem | None:
    await _may(session, actor_id, subject_id, NOTICES_READ, today=today, purpose="notices:read")
    row = (await session.execute(
        select(NoticeRecipient, Notice).join(Notice, Notice.id == NoticeRecipient.notice_id)
        .where(NoticeRecipient.notice_id == notice_id, *_visible(subject_id, now))
    )).first()
    return _item(*row) if row else None


async def attachments_for(
    session: AsyncSession, notice_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[NoticeAttachment]]:
    rows = await session.scalars(select(NoticeAttachment).where(NoticeAttachment.notice_id.in_(notice_ids))
                                 .order_by(NoticeAttachment.kind, NoticeAttachment.reference))
    found: dict[uuid.UUID, list[NoticeAttachment]] = {notice_id: [] for notice_id in notice_ids}
    for attachment in rows:
        found[attachment.notice_id].append(attachment)
    return found


class Mark:
    READ = "read"
    ARCHIVE = "archive"
    UNARCHIVE = "unarchive"


async def mark_notice(
    session: AsyncSession, actor_id: uuid.UUID, subject_id: uuid.UUID, notice_id: uuid.UUID, mark: str, *,
    now: datetime, today: date,
) -> InboxItem:
    """Idempotent: marking twice keeps the first time (a conditional UPDATE, no read-modify-write)."""
    await _may(session, actor_id, subject_id, NOTICES_WRITE, today=today, purpose=f"notices:{mark}")
    values = {
        Mark.READ: {"read_at": func.coalesce(NoticeRecipient.read_at, now)},
        Mark.ARCHIVE: {"archived_at": func.coalesce(NoticeRecipient.archived_at, now)},
        Mark.UNARCHIVE: {"archived_at": None},
    }[mark]
    visible = select(NoticeRecipient.notice_id).join(Notice, Notice.id == NoticeRecipient.notice_id).where(
        NoticeRecipient.notice_id == notice_id, *_visible(subject_id, now))
    await session.execute(update(NoticeRecipient)
                          .where(NoticeRecipient.notice_id == notice_id, NoticeRecipient.person_id == subject_id,
                                 NoticeRecipient.notice_id.in_(visible))
                          .values(**values).execution_options(synchronize_session=False))
    row = (await session.execute(
        select(NoticeRecipient, Notice).join(Notice, Notice.id == NoticeRecipient.notice_id)
        .where(NoticeRecipient.notice_id == notice_id, *_visible(subject_id, now))
        .execution_options(populate_existing=True)
    )).first()
    if row is None:
        raise PortalError("NOT_FOUND", "No such notice.")
    return _item(*row)


# --- the publishing agency's view --------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryStatus:
    id: int
    channel: Channel
    state: DeliveryState
    attempts: int
    last_status_code: int | None
    delivered_at: datetime | None
    updated_at: datetime
    person_code: str | None  # the agency's own code for the person; None if it has none


async def agency_notice(session: AsyncSession, agency_id: uuid.UUID, notice_id: uuid.UUID) -> Notice:
    notice = await session.get(Notice, notice_id)
    if notice is None or notice.agency_id != agency_id:  # another agency's notice does not exist for you
        raise PortalError("NOT_FOUND", "No such notice.")
    return notice


async def delivery_counts(session: AsyncSession, agency_id: uuid.UUID, notice_id: uuid.UUID) -> Counter[str]:
    await agency_notice(session, agency_id, notice_id)
    rows = await session.execute(select(NoticeDelivery.state, func.count()).where(
        NoticeDelivery.notice_id == notice_id).group_by(NoticeDelivery.state))
    return Counter({state.value: count for state, count in rows})


async def delivery_page(
    session: AsyncSession, agency_id: uuid.UUID, notice_id: uuid.UUID, request: PageRequest
) -> Page[DeliveryStatus]:
    """Per device (and per delivery service): the person shown only by this agency's own code."""
    await agency_notice(session, agency_id, notice_id)
    query = (select(NoticeDelivery, AgencyPersonCode.code)
             .outerjoin(AgencyPersonCode, (AgencyPersonCode.agency_id == agency_id)
                        & (AgencyPersonCode.person_id == NoticeDelivery.person_id))
             .where(NoticeDelivery.notice_id == notice_id).order_by(NoticeDelivery.id).limit(request.first + 1))
    if request.after is not None:
        try:
            [after] = request.after
            query = query.where(NoticeDelivery.id > int(after))
        except ValueError as error:
            raise InvalidPageRequest("the cursor is not valid") from error
    rows = [DeliveryStatus(d.id, d.channel, d.state, d.attempts, d.last_status_code, d.delivered_at, d.updated_at,
                           code) for d, code in (await session.execute(query))]
    return page_of(rows, request, key=lambda status: (str(status.id),))
