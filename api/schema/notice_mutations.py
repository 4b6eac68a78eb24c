"""GraphQL for notices, the write side: an agency publishes; a person marks notices and manages the devices and
delivery services that receive them."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry import relay

from api.agencies.credentials import NOTICES_PUBLISH
from api.notices import inbox
from api.notices.segments import Segment
from api.notices.service import AttachmentSpec, Mark, NewNotice
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import NOTICES_WRITE
from api.schema.context import Info
from api.schema.notices import (
    DeliveryServiceLinkType,
    NoticeAudience,
    NoticeCategory,
    NoticePriority,
    NoticeType,
    PublishedNoticeType,
    PushSubscriptionType,
    node_uuid,
)


@strawberry.input(name="NoticeSegmentInput", description="Who a segment notice is for (all criteria must hold).")
class NoticeSegmentInput:
    municipality_code: str | None = None
    prefecture_code: str | None = strawberry.field(default=None, description="Everyone in a prefecture: 01 to 47 "
                                                                             "(the first two digits of its "
                                                                             "municipalities' codes).")
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
    priority: NoticePriority = NoticePriority.NORMAL  # type: ignore[valid-type]
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


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "Times need a UTC offset.")
    return value


async def _mark(info: Info, notice_id: relay.GlobalID, person_id: relay.GlobalID | None, how: str) -> NoticeType:
    principal = info.context.require_person(NOTICES_WRITE)
    subject = principal.person_id if person_id is None else node_uuid(person_id, "Person")
    found = await inbox.mark(info.context.session_factory, principal.person_id, subject,
                             node_uuid(notice_id, "Notice"), how, today=info.context.today())
    return NoticeType.from_inbox(found)


def _own_id(raw: strawberry.ID, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, f"No such {what}.") from error


@strawberry.type
class NoticesMutation:
    @strawberry.mutation(description="An agency publishes a notice (agency API key with notices:publish).")
    async def notice_publish(self, info: Info, input: NoticePublishInput) -> PublishedNoticeType:
        agency = info.context.require_agency(NOTICES_PUBLISH)
        segment = Segment(**vars(input.segment)) if input.segment else None
        new = NewNotice(
            audience=input.audience, category=input.category, title=input.title, body=input.body,
            priority=input.priority, recipient_code=input.recipient_code, segment=segment,
            action_url=input.action_url, publish_at=_aware(input.publish_at), expires_at=_aware(input.expires_at),
            reference=input.reference,
            attachments=tuple(AttachmentSpec(a.kind, a.reference, a.label) for a in input.attachments))
        published = await inbox.publish(info.context.session_factory, agency.agency_id, new,
                                        today=info.context.today())
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
        row = await inbox.register_push_device(
            info.context.session_factory, principal.person_id, endpoint=input.endpoint, p256dh=input.p256dh,
            auth=input.auth, application_server_key=input.application_server_key, device_label=input.device_label)
        return PushSubscriptionType(id=strawberry.ID(str(row.id)), device_label=row.device_label,
                                    created_at=row.created_at)

    @strawberry.mutation(description="Stop Web Push to one of the viewer's devices.")
    async def push_subscription_delete(self, info: Info, id: strawberry.ID) -> bool:
        principal = info.context.require_person(NOTICES_WRITE)
        await inbox.delete_push_device(info.context.session_factory, principal.person_id, _own_id(id, "subscription"))
        return True

    @strawberry.mutation(description="Forward the viewer's notices to their account at a delivery service.")
    async def delivery_service_link(self, info: Info, service: str, account_reference: str
                                    ) -> DeliveryServiceLinkType:
        principal = info.context.require_person(NOTICES_WRITE)
        link, found = await inbox.link_delivery_service(info.context.session_factory, principal.person_id,
                                                        service_slug=service, account_reference=account_reference)
        return DeliveryServiceLinkType(id=strawberry.ID(str(link.id)), service=found.slug,
                                       account_reference=link.account_reference)

    @strawberry.mutation(description="Stop forwarding to a delivery service.")
    async def delivery_service_unlink(self, info: Info, id: strawberry.ID) -> bool:
        principal = info.context.require_person(NOTICES_WRITE)
        await inbox.unlink_delivery_service(info.context.session_factory, principal.person_id, _own_id(id, "link"))
        return True
