"""Publishing a notice to one person the publishing domain already knows by id (an application's receipt, each
move of it): the lean path of ``publish_notice``, for the hottest publisher.

``publish_notice`` takes the agency's own code for the person (an agency's system knows no more), maps it back,
reads the notice it wrote, and counts and expands recipients: nine statements. Here the recipient is the
person's id, the count is one and written with the notice, and nothing is read back: four statements (the
notice, its recipient, every delivery job for the person's devices and delivery services in one INSERT … SELECT,
and the announcement), all in the caller's transaction. The notice is the same as ``publish_notice`` would write,
and the same reference replays the same way (the unique key on agency and reference refuses a duplicate).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, insert, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.notices.broker import announce
from api.notices.models import (
    Audience,
    Channel,
    DeliveryServiceLink,
    DeliveryState,
    Notice,
    NoticeDelivery,
    NoticeRecipient,
)
from api.notices.service import NewNotice, by_reference, replay, validate_notice
from api.platform.db import UTCDateTime, new_id
from push.models import PushSubscription

_JOB_COLUMNS = ["notice_id", "channel", "target_id", "person_id", "state", "attempts", "available_at", "updated_at"]


async def publish_to_person(session: AsyncSession, agency_id: uuid.UUID, person_id: uuid.UUID, new: NewNotice, *,
                            now: datetime) -> uuid.UUID:
    """Write the notice to ``person_id`` (``new.audience`` is PERSON, without attachments; ``recipient_code`` is
    not used), its recipient row and its delivery jobs in the caller's transaction; the notice's id. A reference
    published before with the same content returns that notice (NOTICE_REFERENCE_REUSED for other content)."""
    if new.audience is not Audience.PERSON or new.attachments or new.segment is not None:
        raise ValueError("publish_to_person publishes to one person, without attachments")
    publish_at, _ = validate_notice(new, now, recipient_known=True)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    notice_id = await session.scalar(
        dialect.insert(Notice).values(
            id=new_id(), agency_id=agency_id, reference=new.reference, audience=new.audience, segment=None,
            category=new.category, priority=new.priority, title=new.title, body=new.body, action_url=new.action_url,
            publish_at=publish_at, expires_at=new.expires_at, procedure_id=None, recipient_count=1, created_at=now,
        ).on_conflict_do_nothing(index_elements=["agency_id", "reference"]).returning(Notice.id))
    if notice_id is None:
        existing = await by_reference(session, agency_id, new.reference or "")
        assert existing is not None
        return replay(existing, new).notice.id
    await session.execute(insert(NoticeRecipient).values(notice_id=notice_id, person_id=person_id,
                                                         publish_at=publish_at, category=new.category))
    # Every device's and delivery service's job for this person, one statement whatever their number.
    common = (literal(notice_id, NoticeDelivery.notice_id.type),)
    tail = (literal(DeliveryState.PENDING.value, String()), literal(0), literal(publish_at, UTCDateTime()),
            literal(now, UTCDateTime()))
    await session.execute(insert(NoticeDelivery).from_select(_JOB_COLUMNS, union_all(
        select(*common, literal(Channel.WEBPUSH.value, String()), PushSubscription.id, PushSubscription.person_id,
               *tail).where(PushSubscription.person_id == person_id),
        select(*common, literal(Channel.WEBHOOK.value, String()), DeliveryServiceLink.id,
               DeliveryServiceLink.person_id, *tail).where(DeliveryServiceLink.person_id == person_id))))
    if publish_at <= now:
        await announce(session, notice_id)
    return notice_id
