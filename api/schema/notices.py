"""GraphQL for notices: the inbox (Relay connection), marks, push devices, delivery-service links, the
agency's publish mutation and delivery report, and the ``noticeAdded`` subscription."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry import relay

from api.agencies.credentials import NOTICES_DELIVERY_READ, NOTICES_PUBLISH
from api.db import utcnow
from api.identity.scopes import NOTICES_READ, NOTICES_WRITE
from api.notices import models
from api.notices.broker import app_broker
from api.notices.delivery_services import LinkRefused, link_account, unlink_account
from api.notices.models import NoticeRecipient
from api.notices.segments import InvalidSegment, Segment
from api.notices.service import (
    AttachmentSpec,
    InboxFilter,
    InboxItem,
    Mark,
    NewNotice,
    NoticeRefused,
    attachments_for,
    delivery_counts,
    delivery_page,
    inbox_item,
    inbox_page,
    mark_notice,
    publish_notice,
)
from api.schema.agencies import AgencyType
from api.schema.connections import page_request, to_connection
from api.schema.context import Info
from api.schema.errors import ErrorCode, PublicError
from push.subscriptions import SubscriptionRefused, delete_subscription, register_subscription, subscriptions_of
from push.vapid import current_key, vapid_box

NoticeCategory = strawberry.enum(Enum("NoticeCategory", {c.name: c.value for c in models.Category}))
NoticePriority = strawberry.enum(Enum("NoticePriority", {p.name: p.value for p in models.Priority}))
NoticeAudience = strawberry.enum(Enum("NoticeAudience", {a.name: a.value for a in models.Audience}))
DeliveryStateType = strawberry.enum(Enum("DeliveryState", {s.name: s.value for s in models.DeliveryState}))
DeliveryChannel = strawberry.enum(Enum("DeliveryChannel", {c.name: c.value for c in models.Channel}))

_CODES = {"BAD_USER_INPUT": ErrorCode.BAD_USER_INPUT, "NOT_FOUND": ErrorCode.NOT_FOUND,
          "FORBIDDEN": ErrorCode.FORBIDDEN, "CONFLICT": ErrorCode.NOTICE_REFERENCE_REUSED}


def _public(error: NoticeRefused | SubscriptionRefused | LinkRefused) -> PublicError:
    return PublicError(_CODES[error.code], str(error))


def _uuid(global_id: relay.GlobalID, type_name: str) -> uuid.UUID:
    if global_id.type_name != type_name:
        raise PublicError(ErrorCode.BAD_USER_INPUT, f"The id is not a {type_name} id.")
    try:
        return uuid.UUID(global_id.node_id)
    except ValueError as error:
        raise PublicError(ErrorCode.BAD_USER_INPUT, "The id is not valid.") from error


@strawberry.type(name="NoticeAttachment", description="A document or payment slip riding on the notice.")
class NoticeAttachmentType:
    kind: str
    reference: str
    label: str


@strawberry.type(name="Notice", description="A notice (お知らせ) as its recipient sees it.")
class NoticeType(relay.Node):
    id: relay.NodeID[str]
    category: NoticeCategory  # type: ignore[valid-type]
    priority: NoticePriority  # type: ignore[valid-type]
    title: str
    body: str
    action_url: str | None
    published_at: datetime
    expires_at: datetime | None
    read_at: datetime | None
    archived_at: datetime | None
    attachments: list[NoticeAttachmentType]
    agency_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_item(cls, item: InboxItem, attachments: Iterable[models.NoticeAttachment] = ()) -> NoticeType:
        notice = item.notice
        return cls(id=str(notice.id), category=NoticeCategory(notice.category.value),
                   priority=NoticePriority(notice.priority.value), title=notice.title, body=notice.body,
                   action_url=notice.action_url, published_at=notice.publish_at, expires_at=notice.expires_at,
                   read_at=item.read_at, archived_at=item.archived_at, agency_id=notice.agency_id,
                   attachments=[NoticeAttachmentType(kind=a.kind, reference=a.reference, label=a.label)
                                for a in attachments])

    @strawberry.field(description="The agency that sent it.")
    async def agency(self, info: Info) -> AgencyType:
        agency = await info.context.loaders.agency.load(self.agency_id)
        if agency is None:
            raise PublicError(ErrorCode.NOT_FOUND, "The agency is unknown.")
        return AgencyType.from_model(agency)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False
                            ) -> list[NoticeType | None]:
        principal = info.context.require_person(NOTICES_READ)
        results: list[NoticeType | None] = []
        async with info.context.session_factory() as session, session.begin():
            for node_id in node_ids:
                try:
                    notice_id = uuid.UUID(node_id)
                except ValueError:
                    results.append(None)
                    continue
                item = await inbox_item(session, principal.person_id, principal.person_id, notice_id,
                                        now=utcnow(), today=info.context.today())
                attachments = (await attachments_for(session, [notice_id]))[notice_id] if item else []
                results.append(NoticeType.from_item(item, attachments) if item else None)
        return results


async def _items_to_types(session: Any, items: list[InboxItem]) -> dict[uuid.UUID, NoticeType]:
    attachments = await attachments_for(session, [item.notice.id for item in items])
    return {item.notice.id: NoticeType.from_item(item, attachments[item.notice.id]) for item in items}


@strawberry.type(name="PushSubscription", description="A device that receives Web Push notices.")
class PushSubscriptionType:
    id: strawberry.ID
    device_label: str
    created_at: datetime


@strawberry.type(name="DeliveryServiceLink", description="The person's account at a private delivery service.")
class DeliveryServiceLinkType:
    id: strawberry.ID
    service: str
    account_reference: str


@strawberry.type(name="PublishedNotice", description="What the publishing agency learns about its notice.")
class PublishedNoticeType:
    id: relay.GlobalID
    recipient_count: int
    published_at: datetime
    replayed: bool = strawberry.field(description="A retry with the same reference: nothing new was written.")


@strawberry.type(name="NoticeDelivery", description="One delivery: per device (Web Push) or delivery service.")
class NoticeDeliveryType:
    channel: DeliveryChannel  # type: ignore[valid-type]
    state: DeliveryStateType  # type: ignore[valid-type]
    attempts: int
    last_status_code: int | None
    delivered_at: datetime | None
    updated_at: datetime
    person_code: str | None = strawberry.field(description="Your agency's code for the person, if it has one.")


@strawberry.type(name="DeliveryStateCount")
class DeliveryStateCount:
    state: DeliveryStateType  # type: ignore[valid-type]
    count: int


@strawberry.input(name="NoticeSegmentInput", description="Who a segment notice is for (all criteria must hold).")
class NoticeSegmentInput:
    municipality_code: str | None = None
    min_age: int | None = None
    max_age: int | None = None
    has_child_under: int | None = None


@strawberry.input(name="NoticeAttachmentInput")
class NoticeAttachmentInput:
    kind: str
    reference: str
    label: str


@strawberry.input(name="NoticePublishInput")
class NoticePublishInput:
    audience: NoticeAudience  # type: ignore[valid-type]
    category: NoticeCategory  # type: ignore[valid-type]
    title: str
    body: str
    priority: NoticePriority = NoticePriority("normal")  # type: ignore[valid-type]
    recipient_code: str | None = strawberry.field(default=None, description="Your agency's code for the person.")
    segment: NoticeSegmentInput | None = None
    action_url: str | None = None
    publish_at: datetime | None = None
    expires_at: datetime | None = None
    reference: str | None = strawberry.field(default=None, description="Your id for it: a retry is not a second "
                                                                        "notice.")
    attachments: list[NoticeAttachmentInput] = strawberry.field(default_factory=list)


@strawberry.input(name="PushSubscriptionInput", description="PushSubscription.toJSON() plus the key it used.")
class PushSubscriptionInput:
    endpoint: str
    p256dh: str
    auth: str
    application_server_key: str
    device_label: str


def _subject(info: Info, person_id: relay.GlobalID | None) -> tuple[uuid.UUID, uuid.UUID]:
    principal = info.context.require_person(NOTICES_READ)
    subject = principal.person_id if person_id is None else _uuid(person_id, "Person")
    return principal.person_id, subject


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise PublicError(ErrorCode.BAD_USER_INPUT, "Times need a UTC offset.")
    return value


@strawberry.type
class NoticesQuery:
    @strawberry.field(description="Notices for the viewer (or, with personId, for a minor child or a person who "
                                  "granted notices:read), newest first.")
    async def notices(
        self, info: Info, first: int | None = 20, after: str | None = None, unread: bool | None = None,
        category: NoticeCategory | None = None, archived: bool = False,  # type: ignore[valid-type]
        person_id: relay.GlobalID | None = None,
    ) -> relay.Connection[NoticeType]:
        actor, subject = _subject(info, person_id)
        request = page_request(first, after)
        filters = InboxFilter(unread=unread, category=models.Category(category.value) if category else None,
                              archived=archived)
        async with info.context.session_factory() as session, session.begin():
            try:
                page = await inbox_page(session, actor, subject, request, filters, now=utcnow(),
                                        today=info.context.today())
            except NoticeRefused as refused:
                raise _public(refused) from refused
            types = await _items_to_types(session, [item for _, item in page.items])
        return to_connection(page, lambda item: types[item.notice.id])

    @strawberry.field(description="The VAPID applicationServerKey to subscribe with (base64url).")
    async def push_application_server_key(self, info: Info) -> str:
        async with info.context.session_factory() as session, session.begin():
            key = await current_key(session, vapid_box(info.context.cipher.data_key))
        return key.public_key

    @strawberry.field(description="The viewer's devices that receive notices.")
    async def push_subscriptions(self, info: Info) -> list[PushSubscriptionType]:
        principal = info.context.require_person(NOTICES_READ)
        async with info.context.read_session_factory() as session:
            rows = await subscriptions_of(session, principal.person_id)
        return [PushSubscriptionType(id=strawberry.ID(str(s.id)), device_label=s.device_label,
                                     created_at=s.created_at) for s in rows]

    @strawberry.field(description="For the publishing agency: counts by state and per-device deliveries.")
    async def notice_delivery_report(
        self, info: Info, notice_id: relay.GlobalID, first: int | None = 20, after: str | None = None
    ) -> NoticeDeliveryReport:
        agency = info.context.require_agency(NOTICES_DELIVERY_READ)
        target = _uuid(notice_id, "Notice")
        request = page_request(first, after)
        async with info.context.read_session_factory() as session:
            try:
                counts = await delivery_counts(session, agency.agency_id, target)
                page = await delivery_page(session, agency.agency_id, target, request)
            except NoticeRefused as refused:
                raise _public(refused) from refused
        return NoticeDeliveryReport(
            counts=[DeliveryStateCount(state=DeliveryStateType(state), count=count)
                    for state, count in sorted(counts.items())],
            deliveries=to_connection(page, lambda d: NoticeDeliveryType(
                channel=DeliveryChannel(d.channel.value), state=DeliveryStateType(d.state.value),
                attempts=d.attempts, last_status_code=d.last_status_code, delivered_at=d.delivered_at,
                updated_at=d.updated_at, person_code=d.person_code)))


@strawberry.type(name="NoticeDeliveryReport")
class NoticeDeliveryReport:
    counts: list[DeliveryStateCount]
    deliveries: relay.Connection[NoticeDeliveryType]


async def _mark(info: Info, notice_id: relay.GlobalID, person_id: relay.GlobalID | None, mark: str) -> NoticeType:
    principal = info.context.require_person(NOTICES_WRITE)
    subject = principal.person_id if person_id is None else _uuid(person_id, "Person")
    async with info.context.session_factory() as session, session.begin():
        try:
            item = await mark_notice(session, principal.person_id, subject, _uuid(notice_id, "Notice"), mark,
                                     now=utcnow(), today=info.context.today())
        except NoticeRefused as refused:
            raise _public(refused) from refused
        return (await _items_to_types(session, [item]))[item.notice.id]


@strawberry.type
class NoticesMutation:
    @strawberry.mutation(description="An agency publishes a notice (agency API key with notices:publish).")
    async def notice_publish(self, info: Info, input: NoticePublishInput) -> PublishedNoticeType:
        agency = info.context.require_agency(NOTICES_PUBLISH)
        try:
            segment = Segment(**vars(input.segment)) if input.segment else None
        except InvalidSegment as invalid:
            raise PublicError(ErrorCode.BAD_USER_INPUT, str(invalid)) from invalid
        new = NewNotice(
            audience=models.Audience(input.audience.value), category=models.Category(input.category.value),
            title=input.title, body=input.body, priority=models.Priority(input.priority.value),
            recipient_code=input.recipient_code, segment=segment, action_url=input.action_url,
            publish_at=_aware(input.publish_at), expires_at=_aware(input.expires_at), reference=input.reference,
            attachments=tuple(AttachmentSpec(a.kind, a.reference, a.label) for a in input.attachments))
        async with info.context.session_factory() as session, session.begin():
            try:
                published = await publish_notice(session, agency.agency_id, new, now=utcnow(),
                                                 today=info.context.today())
            except NoticeRefused as refused:
                raise _public(refused) from refused
        notice = published.notice
        return PublishedNoticeType(id=relay.GlobalID("Notice", str(notice.id)),
                                   recipient_count=notice.recipient_count, published_at=notice.publish_at,
                                   replayed=published.replayed)

    @strawberry.mutation(description="Mark a notice read (the first time is kept).")
    async def notice_mark_read(self, info: Info, id: relay.GlobalID,
                               person_id: relay.GlobalID | None = None) -> NoticeType:
        return await _mark(info, id, person_id, Mark.READ)

    @strawberry.mutation(description="Archive a notice (it leaves the default inbox).")
    async def notice_archive(self, info: Info, id: relay.GlobalID,
                             person_id: relay.GlobalID | None = None) -> NoticeType:
        return await _mark(info, id, person_id, Mark.ARCHIVE)

    @strawberry.mutation(description="Register this device for Web Push (https endpoints, validated keys).")
    async def push_subscription_register(self, info: Info, input: PushSubscriptionInput) -> PushSubscriptionType:
        principal = info.context.require_person(NOTICES_WRITE)
        async with info.context.session_factory() as session, session.begin():
            try:
                row = await register_subscription(
                    session, principal.person_id, endpoint=input.endpoint, p256dh=input.p256dh, auth=input.auth,
                    application_server_key=input.application_server_key, device_label=input.device_label)
            except SubscriptionRefused as refused:
                raise _public(refused) from refused
        return PushSubscriptionType(id=strawberry.ID(str(row.id)), device_label=row.device_label,
                                    created_at=row.created_at)

    @strawberry.mutation(description="Stop Web Push to one of the viewer's devices.")
    async def push_subscription_delete(self, info: Info, id: strawberry.ID) -> bool:
        principal = info.context.require_person(NOTICES_WRITE)
        try:
            subscription_id = uuid.UUID(str(id))
        except ValueError as error:
            raise PublicError(ErrorCode.NOT_FOUND, "No such subscription.") from error
        async with info.context.session_factory() as session, session.begin():
            try:
                await delete_subscription(session, principal.person_id, subscription_id)
            except SubscriptionRefused as refused:
                raise _public(refused) from refused
        return True

    @strawberry.mutation(description="Forward the viewer's notices to their account at a delivery service.")
    async def delivery_service_link(self, info: Info, service: str, account_reference: str
                                    ) -> DeliveryServiceLinkType:
        principal = info.context.require_person(NOTICES_WRITE)
        async with info.context.session_factory() as session, session.begin():
            try:
                link, found = await link_account(session, principal.person_id, service_slug=service,
                                                 account_reference=account_reference)
            except LinkRefused as refused:
                raise _public(refused) from refused
        return DeliveryServiceLinkType(id=strawberry.ID(str(link.id)), service=found.slug,
                                       account_reference=link.account_reference)

    @strawberry.mutation(description="Stop forwarding to a delivery service.")
    async def delivery_service_unlink(self, info: Info, id: strawberry.ID) -> bool:
        principal = info.context.require_person(NOTICES_WRITE)
        try:
            link_id = uuid.UUID(str(id))
        except ValueError as error:
            raise PublicError(ErrorCode.NOT_FOUND, "No such link.") from error
        async with info.context.session_factory() as session, session.begin():
            try:
                await unlink_account(session, principal.person_id, link_id)
            except LinkRefused as refused:
                raise _public(refused) from refused
        return True


@strawberry.type
class NoticesSubscription:
    @strawberry.subscription(description="Notices as they are published to the viewer (open apps and TVs).")
    async def notice_added(self, info: Info) -> AsyncGenerator[NoticeType, None]:
        principal = info.context.require_person(NOTICES_READ)
        async with app_broker(info.context.request.app.state).subscribe() as queue:
            while True:
                notice_id = await queue.get()
                async with info.context.read_session_factory() as session:
                    mine = await session.scalar(select(NoticeRecipient.notice_id).where(
                        NoticeRecipient.notice_id == notice_id, NoticeRecipient.person_id == principal.person_id))
                    if mine is None:
                        continue
                    item = await inbox_item(session, principal.person_id, principal.person_id, notice_id,
                                            now=utcnow(), today=info.context.today())
                    if item is not None:
                        yield (await _items_to_types(session, [item]))[notice_id]
