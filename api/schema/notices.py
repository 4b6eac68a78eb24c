"""GraphQL for notices, the read side: the inbox (Relay connection), push devices, the agency's delivery report
and the ``noticeAdded`` subscription (mutations: api.schema.notice_mutations)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from api.agencies.credentials import NOTICES_DELIVERY_READ
from api.notices import inbox
from api.notices.inbox import InboxNotice
from api.notices.models import Audience, Category, Channel, DeliveryState, Priority
from api.notices.service import InboxFilter
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import NOTICES_READ
from api.schema.agencies import AgencyType
from api.schema.connections import page_request, to_connection
from api.schema.context import Info

NoticeCategory = strawberry.enum(Category, name="NoticeCategory")
NoticePriority = strawberry.enum(Priority, name="NoticePriority")
NoticeAudience = strawberry.enum(Audience, name="NoticeAudience")
DeliveryStateType = strawberry.enum(DeliveryState, name="DeliveryState")
DeliveryChannel = strawberry.enum(Channel, name="DeliveryChannel")


def node_uuid(global_id: relay.GlobalID, type_name: str) -> uuid.UUID:
    if global_id.type_name != type_name:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"The id is not a {type_name} id.")
    try:
        return uuid.UUID(global_id.node_id)
    except ValueError as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "The id is not valid.") from error


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
    def from_inbox(cls, found: InboxNotice) -> NoticeType:
        item, notice = found.item, found.item.notice
        return cls(id=str(notice.id), category=notice.category, priority=notice.priority, title=notice.title,
                   body=notice.body,
                   action_url=notice.action_url, published_at=notice.publish_at, expires_at=notice.expires_at,
                   read_at=item.read_at, archived_at=item.archived_at, agency_id=notice.agency_id,
                   attachments=[NoticeAttachmentType(kind=a.kind, reference=a.reference, label=a.label)
                                for a in found.attachments])

    @strawberry.field(description="The agency that sent it.")
    async def agency(self, info: Info) -> AgencyType:
        agency = await info.context.loaders.agency.load(self.agency_id)
        if agency is None:
            raise PortalError(ErrorCode.NOT_FOUND, "The agency is unknown.")
        return AgencyType.from_model(agency)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False
                            ) -> list[NoticeType | None]:
        principal = info.context.require_person(NOTICES_READ)
        found = await inbox.own_notices(info.context.session_factory, principal.person_id,
                                        [_parsed(node_id) for node_id in node_ids], today=info.context.today())
        return [NoticeType.from_inbox(notice) if notice else None for notice in found]


def _parsed(node_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(node_id)
    except ValueError:
        return None


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


def _subject(info: Info, person_id: relay.GlobalID | None) -> tuple[uuid.UUID, uuid.UUID]:
    principal = info.context.require_person(NOTICES_READ)
    subject = principal.person_id if person_id is None else node_uuid(person_id, "Person")
    return principal.person_id, subject


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
        filters = InboxFilter(unread=unread, category=category, archived=archived)
        page = await inbox.read_inbox(info.context.session_factory, actor, subject, request, filters,
                                      today=info.context.today())
        return to_connection(page, NoticeType.from_inbox)

    @strawberry.field(description="The VAPID applicationServerKey to subscribe with (base64url).")
    async def push_application_server_key(self, info: Info) -> str:
        return await inbox.push_application_server_key(info.context.session_factory, info.context.cipher.data_key)

    @strawberry.field(description="The viewer's devices that receive notices.")
    async def push_subscriptions(self, info: Info) -> list[PushSubscriptionType]:
        principal = info.context.require_person(NOTICES_READ)
        rows = await inbox.push_devices(info.context.read_session_factory, principal.person_id)
        return [PushSubscriptionType(id=strawberry.ID(str(s.id)), device_label=s.device_label,
                                     created_at=s.created_at) for s in rows]

    @strawberry.field(description="For the publishing agency: counts by state and per-device deliveries.")
    async def notice_delivery_report(
        self, info: Info, notice_id: relay.GlobalID, first: int | None = 20, after: str | None = None
    ) -> NoticeDeliveryReport:
        agency = info.context.require_agency(NOTICES_DELIVERY_READ)
        target = node_uuid(notice_id, "Notice")
        request = page_request(first, after)
        counts, page = await inbox.delivery_report(info.context.read_session_factory, agency.agency_id, target,
                                                   request)
        return NoticeDeliveryReport(
            counts=[DeliveryStateCount(state=DeliveryState(state), count=count)
                    for state, count in sorted(counts.items())],
            deliveries=to_connection(page, lambda d: NoticeDeliveryType(
                channel=d.channel, state=d.state,
                attempts=d.attempts, last_status_code=d.last_status_code, delivered_at=d.delivered_at,
                updated_at=d.updated_at, person_code=d.person_code)))


@strawberry.type(name="NoticeDeliveryReport")
class NoticeDeliveryReport:
    counts: list[DeliveryStateCount]
    deliveries: relay.Connection[NoticeDeliveryType]




@strawberry.type
class NoticesSubscription:
    @strawberry.subscription(description="Notices as they are published to the viewer (open apps and TVs).")
    async def notice_added(self, info: Info) -> AsyncGenerator[NoticeType, None]:
        principal = info.context.require_person(NOTICES_READ)
        guard = info.context.feed_guard
        if guard is None:
            raise PortalError(ErrorCode.INTERNAL, "Live notices are not available.")
        # Ends with UNAUTHENTICATED within a second of the session's end (api.schema.feeds).
        async with info.context.notice_broker.subscribe() as queue, guard.watch(session=principal.token_id) as watch:
            while True:
                notice_id = await watch.race(queue.get())
                found = await inbox.new_notice_for(info.context.read_session_factory, principal.person_id, notice_id,
                                                   today=info.context.today())
                if found is not None:
                    yield NoticeType.from_inbox(found)

