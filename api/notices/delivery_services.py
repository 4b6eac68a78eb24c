"""Private delivery services (民間送達サービス): registered by the operator, linked by a person; each notice
to that person is forwarded to the service as a Standard-Webhooks-signed POST, retried on a ladder."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.notices.models import Channel, DeliveryService, DeliveryServiceLink, DeliveryState, Notice, NoticeDelivery
from api.notices.outbox import SendResult
from api.platform.db import new_id, utcnow
from api.platform.errors import PortalError
from api.platform.webhooks import DestinationRefused, check_destination, new_secret, sign_headers
from push.secrets import SecretBox
from push.sender import parse_retry_after

EVENT_NOTICE_PUBLISHED = "notice.published"
TIMEOUT_SECONDS = 5.0  # GOV.UK Notify's callback timeout
FETCH_KEY_PREFIX = "dsk_"


class LinkRefused(PortalError):
    """A link to a delivery service refused (BAD_USER_INPUT, NOT_FOUND)."""


def webhook_box(data_key: bytes, previous: Sequence[bytes] = ()) -> SecretBox:
    return SecretBox.derive(data_key, "webhook-secret", previous)


async def register_service(
    session: AsyncSession, box: SecretBox, *, slug: str, name: str, webhook_url: str, allow_private: bool
) -> tuple[DeliveryService, str]:
    """The operator adds a service; the signing secret is returned once (give it to the service)."""
    await check_destination(webhook_url, allow_private=allow_private)
    secret = new_secret()
    service = DeliveryService(slug=slug, name=name, webhook_url=webhook_url,
                              secret_ciphertext=box.seal(secret.encode()))
    session.add(service)
    await session.flush()
    return service, secret


async def rotate_service_secret(session: AsyncSession, box: SecretBox, slug: str, *, grace: timedelta,
                                now: datetime) -> str:
    """A new signing secret, returned once; the current one keeps signing beside it for ``grace`` (Standard
    Webhooks: several signatures in one header), so the service can switch without losing a message."""
    service = await session.scalar(select(DeliveryService).where(DeliveryService.slug == slug).with_for_update())
    if service is None:
        raise LinkRefused("NOT_FOUND", "No such delivery service.")
    secret = new_secret()
    service.previous_secret_ciphertext = service.secret_ciphertext
    service.previous_secret_until = now + grace
    service.secret_ciphertext = box.seal(secret.encode())
    await session.flush()
    return secret


async def retire_previous_secret(session: AsyncSession, slug: str) -> bool:
    """End the grace period now; False when there was no previous secret."""
    service = await service_by_slug(session, slug)
    if service is None:
        raise LinkRefused("NOT_FOUND", "No such delivery service.")
    had = service.previous_secret_ciphertext is not None
    service.previous_secret_ciphertext = service.previous_secret_until = None
    await session.flush()
    return had


def signing_secrets(service: DeliveryService, now: datetime) -> tuple[bytes, ...]:
    """The sealed secrets that sign a message now: the current one, and the previous one in its grace period."""
    previous = service.previous_secret_ciphertext
    if previous is not None and service.previous_secret_until is not None and service.previous_secret_until > now:
        return (service.secret_ciphertext, previous)
    return (service.secret_ciphertext,)


def _key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def new_fetch_key(session: AsyncSession, slug: str) -> str:
    """A new fetch key for the service (shown once; only its hash is kept): the previous one stops working."""
    key = FETCH_KEY_PREFIX + secrets.token_urlsafe(32)
    done = await session.scalar(update(DeliveryService).where(DeliveryService.slug == slug)
                                .values(fetch_key_hash=_key_hash(key)).returning(DeliveryService.id))
    if done is None:
        raise LinkRefused("NOT_FOUND", "No such delivery service.")
    return key


async def service_for_fetch_key(session: AsyncSession, key: str) -> DeliveryService | None:
    if not key.startswith(FETCH_KEY_PREFIX) or len(key) > 100:
        return None
    return await session.scalar(select(DeliveryService).where(DeliveryService.fetch_key_hash == _key_hash(key)))


def _job(notice_id: uuid.UUID, link_id: uuid.UUID) -> tuple[object, ...]:
    return (NoticeDelivery.notice_id == notice_id, NoticeDelivery.channel == Channel.WEBHOOK,
            NoticeDelivery.target_id == link_id)


async def offer_to_link(session: AsyncSession, box: SecretBox, notice_id: uuid.UUID, link_id: uuid.UUID,
                        members: dict[str, object]) -> bool:
    """Add ``members`` to the data of this notice's webhook to this link only (in the publishing transaction);
    False when the notice has no job for the link (it was unlinked)."""
    sealed = box.seal(json.dumps(members, ensure_ascii=False, separators=(",", ":")).encode())
    done = await session.scalar(update(NoticeDelivery).where(*_job(notice_id, link_id))
                                .values(payload_ciphertext=sealed).returning(NoticeDelivery.id))
    return done is not None


async def withdraw_offer(session: AsyncSession, notice_id: uuid.UUID, link_id: uuid.UUID) -> None:
    """Nothing of the offer stays once it was taken (a later retry carries the notice alone)."""
    await session.execute(update(NoticeDelivery).where(*_job(notice_id, link_id)).values(payload_ciphertext=None)
                          .execution_options(synchronize_session=False))


async def service_by_slug(session: AsyncSession, slug: str) -> DeliveryService | None:
    return await session.scalar(select(DeliveryService).where(DeliveryService.slug == slug))


async def link_account(
    session: AsyncSession, person_id: uuid.UUID, *, service_slug: str, account_reference: str
) -> tuple[DeliveryServiceLink, DeliveryService]:
    """The person (acting as themselves) links their account; linking again updates the account."""
    if not 1 <= len(account_reference) <= 200:
        raise LinkRefused("BAD_USER_INPUT", "The account reference must have 1 to 200 characters.")
    service = await service_by_slug(session, service_slug)
    if service is None:
        raise LinkRefused("NOT_FOUND", "No such delivery service.")
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    link_id = await session.scalar(
        dialect.insert(DeliveryServiceLink)
        .values(id=new_id(), person_id=person_id, service_id=service.id, account_reference=account_reference,
                created_at=utcnow())
        .on_conflict_do_update(index_elements=["person_id", "service_id"],
                               set_={"account_reference": account_reference})
        .returning(DeliveryServiceLink.id))
    link = await session.get(DeliveryServiceLink, link_id, populate_existing=True)
    assert link is not None
    return link, service


async def unlink_account(session: AsyncSession, person_id: uuid.UUID, link_id: uuid.UUID) -> None:
    result = await session.execute(
        delete(DeliveryServiceLink)
        .where(DeliveryServiceLink.id == link_id, DeliveryServiceLink.person_id == person_id)
        .returning(DeliveryServiceLink.id))
    if result.first() is None:
        raise LinkRefused("NOT_FOUND", "No such link.")


@dataclass(frozen=True)
class WebhookMessage:
    notice: Notice
    agency_name: str
    link_id: uuid.UUID
    account_reference: str
    webhook_url: str
    secret_ciphertexts: tuple[bytes, ...]  # each signs (signing_secrets)
    offered: dict[str, object] | None = None  # members for this service alone (offer_to_link), already opened


def message_id(notice_id: uuid.UUID, link_id: uuid.UUID) -> str:
    # Stable across retries, so receivers dedupe a delivery we could not confirm.
    return f"msg_{notice_id.hex}{link_id.hex}"


def webhook_body(message: WebhookMessage, now: datetime) -> bytes:
    notice = message.notice
    return json.dumps({
        "type": EVENT_NOTICE_PUBLISHED,
        "timestamp": now.isoformat(),
        "data": {
            "account": message.account_reference,
            "notice": {"id": str(notice.id), "agency": message.agency_name, "category": notice.category.value,
                       "title": notice.title, "body": notice.body, "action_url": notice.action_url,
                       "published_at": notice.publish_at.isoformat(),
                       "expires_at": notice.expires_at.isoformat() if notice.expires_at else None},
            **(message.offered or {}),
        },
    }, ensure_ascii=False, separators=(",", ":")).encode()


async def send_webhook(client: httpx.AsyncClient, box: SecretBox, message: WebhookMessage, *, now: datetime,
                       allow_private: bool) -> SendResult:
    try:
        await check_destination(message.webhook_url, allow_private=allow_private)
    except DestinationRefused as refused:
        return SendResult(DeliveryState.PERMANENT_FAILURE, None, error=f"violates security rules: {refused}")
    body = webhook_body(message, now)
    headers = sign_headers([box.open(sealed).decode() for sealed in message.secret_ciphertexts],
                           message_id(message.notice.id, message.link_id), body)
    headers["content-type"] = "application/json"
    try:
        response = await client.post(message.webhook_url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.TransportError as error:
        return SendResult(DeliveryState.PENDING, None, error=f"transport: {type(error).__name__}")
    status = response.status_code
    if 200 <= status < 300:
        return SendResult(DeliveryState.DELIVERED, status)
    if status == 429 or status >= 500:
        return SendResult(DeliveryState.PENDING, status, parse_retry_after(response.headers.get("retry-after"), now),
                          error=f"delivery service answered {status}")
    return SendResult(DeliveryState.PERMANENT_FAILURE, status, error=f"delivery service refused: {status}")
