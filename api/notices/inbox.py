"""Units of work on notices for the GraphQL layer: the inbox, marks, publishing, the delivery report, the
viewer's Web Push devices and delivery-service links. Each opens its own transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.notices.delivery_services import link_account, unlink_account
from api.notices.models import DeliveryService, DeliveryServiceLink, NoticeAttachment, NoticeRecipient
from api.notices.service import (
    DeliveryStatus,
    InboxFilter,
    InboxItem,
    NewNotice,
    Published,
    attachments_for,
    delivery_counts,
    delivery_page,
    inbox_item,
    inbox_page,
    mark_notice,
    publish_notice,
)
from api.platform.db import utcnow
from api.platform.pagination import Page, PageRequest
from push.models import PushSubscription
from push.subscriptions import delete_subscription, register_subscription, subscriptions_of
from push.vapid import current_key, vapid_box

SessionFactory = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class InboxNotice:
    item: InboxItem
    attachments: list[NoticeAttachment]


async def _with_attachments(session: AsyncSession, items: Sequence[InboxItem]) -> dict[uuid.UUID, InboxNotice]:
    attachments = await attachments_for(session, [item.notice.id for item in items])
    return {item.notice.id: InboxNotice(item, attachments[item.notice.id]) for item in items}


async def read_inbox(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID,
                     request: PageRequest, inbox_filter: InboxFilter, *, today: date) -> Page[InboxNotice]:
    """The subject's inbox, newest first, as the actor may see it (a read for someone else is recorded)."""
    async with session_factory() as session, session.begin():
        page = await inbox_page(session, actor_id, subject_id, request, inbox_filter, now=utcnow(), today=today)
        found = await _with_attachments(session, [item for _, item in page.items])
    return Page([(cursor, found[item.notice.id]) for cursor, item in page.items], page.has_next_page,
                page.has_previous_page)


async def own_notices(session_factory: SessionFactory, person_id: uuid.UUID, notice_ids: Iterable[uuid.UUID | None],
                      *, today: date) -> list[InboxNotice | None]:
    """The person's own notices by id, None where there is none (or the id is None)."""
    found: list[InboxNotice | None] = []
    async with session_factory() as session, session.begin():
        for notice_id in notice_ids:
            item = await inbox_item(session, person_id, person_id, notice_id, now=utcnow(), today=today) \
                if notice_id else None
            found.append((await _with_attachments(session, [item]))[item.notice.id] if item else None)
    return found


async def new_notice_for(read_session_factory: SessionFactory, person_id: uuid.UUID, notice_id: uuid.UUID, *,
                         today: date) -> InboxNotice | None:
    """A just-published notice, if it went to this person (the noticeAdded feed)."""
    async with read_session_factory() as session:
        mine = await session.scalar(select(NoticeRecipient.notice_id).where(
            NoticeRecipient.notice_id == notice_id, NoticeRecipient.person_id == person_id))
        if mine is None:
            return None
        item = await inbox_item(session, person_id, person_id, notice_id, now=utcnow(), today=today)
        return (await _with_attachments(session, [item]))[notice_id] if item else None


async def mark(session_factory: SessionFactory, actor_id: uuid.UUID, subject_id: uuid.UUID, notice_id: uuid.UUID,
               how: str, *, today: date) -> InboxNotice:
    async with session_factory() as session, session.begin():
        item = await mark_notice(session, actor_id, subject_id, notice_id, how, now=utcnow(), today=today)
        return (await _with_attachments(session, [item]))[item.notice.id]


async def publish(session_factory: SessionFactory, agency_id: uuid.UUID, new: NewNotice, *,
                  today: date) -> Published:
    async with session_factory() as session, session.begin():
        return await publish_notice(session, agency_id, new, now=utcnow(), today=today)


async def delivery_report(read_session_factory: SessionFactory, agency_id: uuid.UUID, notice_id: uuid.UUID,
                          request: PageRequest) -> tuple[Counter[str], Page[DeliveryStatus]]:
    """(counts by state, a page of deliveries) of the agency's own notice."""
    async with read_session_factory() as session:
        counts = await delivery_counts(session, agency_id, notice_id)
        return counts, await delivery_page(session, agency_id, notice_id, request)


async def push_application_server_key(session_factory: SessionFactory, data_key: bytes) -> str:
    """The current VAPID public key (made on first use)."""
    async with session_factory() as session, session.begin():
        return (await current_key(session, vapid_box(data_key))).public_key


async def push_devices(read_session_factory: SessionFactory, person_id: uuid.UUID) -> list[PushSubscription]:
    async with read_session_factory() as session:
        return await subscriptions_of(session, person_id)


async def register_push_device(session_factory: SessionFactory, person_id: uuid.UUID, *, endpoint: str,
                               p256dh: str, auth: str, application_server_key: str,
                               device_label: str) -> PushSubscription:
    async with session_factory() as session, session.begin():
        return await register_subscription(session, person_id, endpoint=endpoint, p256dh=p256dh, auth=auth,
                                           application_server_key=application_server_key,
                                           device_label=device_label)


async def delete_push_device(session_factory: SessionFactory, person_id: uuid.UUID,
                             subscription_id: uuid.UUID) -> None:
    async with session_factory() as session, session.begin():
        await delete_subscription(session, person_id, subscription_id)


async def link_delivery_service(session_factory: SessionFactory, person_id: uuid.UUID, *, service_slug: str,
                                account_reference: str) -> tuple[DeliveryServiceLink, DeliveryService]:
    async with session_factory() as session, session.begin():
        return await link_account(session, person_id, service_slug=service_slug,
                                  account_reference=account_reference)


async def unlink_delivery_service(session_factory: SessionFactory, person_id: uuid.UUID, link_id: uuid.UUID) -> None:
    async with session_factory() as session, session.begin():
        await unlink_account(session, person_id, link_id)
