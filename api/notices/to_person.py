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
from typing import Any

from sqlalchemy import BindParameter, Executable, String, Table, Uuid, bindparam, insert, literal, select, union_all
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
_NOTICE_COLUMNS = ("id", "agency_id", "reference", "audience", "category", "priority", "title", "body", "action_url",
                   "publish_at", "expires_at", "created_at")


def _bound(table: Table, names: tuple[str, ...]) -> dict[str, BindParameter[Any]]:
    return {name: bindparam(f"p_{name}", type_=table.c[name].type) for name in names}


def _statements(dialect: Any) -> tuple[Executable, Executable, Executable]:
    """The three writes, built once per dialect with bound parameters: a rush of receipts constructs and compiles
    nothing."""
    notices, recipients = Notice.__table__, NoticeRecipient.__table__
    notice = (dialect.insert(notices).values(**_bound(notices, _NOTICE_COLUMNS), segment=None, procedure_id=None,
                                             recipient_count=1)
              .on_conflict_do_nothing(index_elements=["agency_id", "reference"]).returning(notices.c.id))
    recipient = insert(recipients).values(
        notice_id=bindparam("p_id", type_=recipients.c.notice_id.type),
        person_id=bindparam("p_person", type_=recipients.c.person_id.type),
        publish_at=bindparam("p_publish_at", type_=UTCDateTime()),
        category=bindparam("p_category", type_=recipients.c.category.type))
    # Every device's and delivery service's job for the person, one statement whatever their number.
    head = (bindparam("p_id", type_=Uuid()),)
    tail = (literal(DeliveryState.PENDING.value, String()), literal(0), bindparam("p_publish_at", type_=UTCDateTime()),
            bindparam("p_created_at", type_=UTCDateTime()))
    person = bindparam("p_person", type_=Uuid())
    jobs = insert(NoticeDelivery.__table__).from_select(_JOB_COLUMNS, union_all(
        select(*head, literal(Channel.WEBPUSH.value, String()), PushSubscription.id, PushSubscription.person_id,
               *tail).where(PushSubscription.person_id == person),
        select(*head, literal(Channel.WEBHOOK.value, String()), DeliveryServiceLink.id, DeliveryServiceLink.person_id,
               *tail).where(DeliveryServiceLink.person_id == person)))
    return notice, recipient, jobs


_STATEMENTS = {"postgresql": _statements(postgresql), "sqlite": _statements(sqlite)}


async def publish_to_person(session: AsyncSession, agency_id: uuid.UUID, person_id: uuid.UUID, new: NewNotice, *,
                            now: datetime) -> uuid.UUID:
    """Write the notice to ``person_id`` (``new.audience`` is PERSON, without attachments; ``recipient_code`` is
    not used), its recipient row and its delivery jobs in the caller's transaction; the notice's id. A reference
    published before with the same content returns that notice (NOTICE_REFERENCE_REUSED for other content)."""
    if new.audience is not Audience.PERSON or new.attachments or new.segment is not None:
        raise ValueError("publish_to_person publishes to one person, without attachments")
    publish_at, _ = validate_notice(new, now, recipient_known=True)
    notice, recipient, jobs = _STATEMENTS["postgresql" if session.get_bind().dialect.name == "postgresql"
                                          else "sqlite"]
    params = {"p_id": new_id(), "p_agency_id": agency_id, "p_reference": new.reference, "p_audience": new.audience,
              "p_category": new.category, "p_priority": new.priority, "p_title": new.title, "p_body": new.body,
              "p_action_url": new.action_url, "p_publish_at": publish_at, "p_expires_at": new.expires_at,
              "p_created_at": now, "p_person": person_id}
    notice_id = await session.scalar(notice, params)
    if notice_id is None:
        existing = await by_reference(session, agency_id, new.reference or "")
        assert existing is not None
        return replay(existing, new).notice.id
    await session.execute(recipient, params)
    await session.execute(jobs, params)
    if publish_at <= now:
        await announce(session, notice_id)
    return notice_id
