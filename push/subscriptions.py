"""Push subscriptions: registered per device by the signed-in person (https endpoints, keys validated)."""

from __future__ import annotations

import binascii
import uuid
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.db import new_id, utcnow
from api.platform.errors import PortalError
from push.encryption import InvalidSubscriptionKeys, validate_keys
from push.models import PushSubscription
from push.vapid import b64url_decode, key_for_public

MAX_DEVICES = 20


class SubscriptionRefused(PortalError):
    """``code``: BAD_USER_INPUT or NOT_FOUND."""


def validate_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if len(endpoint) > 1000 or parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise SubscriptionRefused("BAD_USER_INPUT", "The endpoint must be an https URL of at most 1000 characters.")
    return endpoint


async def register_subscription(
    session: AsyncSession, person_id: uuid.UUID, *, endpoint: str, p256dh: str, auth: str,
    application_server_key: str, device_label: str,
) -> PushSubscription:
    """Create or refresh the device's subscription (an endpoint belongs to one browser profile: the latest
    person to register it owns it)."""
    validate_endpoint(endpoint)
    if not 1 <= len(device_label) <= 100:
        raise SubscriptionRefused("BAD_USER_INPUT", "The device label must have 1 to 100 characters.")
    try:
        if len(p256dh) > 100 or len(auth) > 40:
            raise InvalidSubscriptionKeys("keys too long")
        validate_keys(b64url_decode(p256dh), b64url_decode(auth))
    except (InvalidSubscriptionKeys, binascii.Error, ValueError) as error:
        raise SubscriptionRefused("BAD_USER_INPUT", "The subscription keys are not valid: p256dh must be a "
                                                    "P-256 public key and auth 16 bytes, base64url.") from error
    key = await key_for_public(session, application_server_key)
    if key is None:
        raise SubscriptionRefused("BAD_USER_INPUT", "The application server key is not one of this portal's.")
    devices = await session.scalar(select(func.count()).where(PushSubscription.person_id == person_id,
                                                              PushSubscription.endpoint != endpoint))
    if (devices or 0) >= MAX_DEVICES:
        raise SubscriptionRefused("BAD_USER_INPUT", f"At most {MAX_DEVICES} devices can receive notices.")
    values = {"person_id": person_id, "endpoint": endpoint, "p256dh": p256dh, "auth": auth,
              "vapid_generation": key.generation, "device_label": device_label}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PushSubscription).values(id=new_id(), created_at=utcnow(), **values)
    subscription_id = await session.scalar(
        statement.on_conflict_do_update(index_elements=["endpoint"], set_=values).returning(PushSubscription.id))
    found = await session.get(PushSubscription, subscription_id, populate_existing=True)
    assert found is not None
    return found


async def delete_subscription(session: AsyncSession, person_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
    deleted = await session.execute(delete(PushSubscription).where(PushSubscription.id == subscription_id,
                                                                   PushSubscription.person_id == person_id)
                                    .returning(PushSubscription.id))
    if deleted.first() is None:
        raise SubscriptionRefused("NOT_FOUND", "No such subscription.")


async def forget_expired(session: AsyncSession, subscription_ids: list[uuid.UUID]) -> None:
    """Drop subscriptions the push service answered 404 or 410 for: they will never work again."""
    await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(subscription_ids)))


async def subscriptions_of(session: AsyncSession, person_id: uuid.UUID) -> list[PushSubscription]:
    rows = await session.scalars(select(PushSubscription).where(PushSubscription.person_id == person_id)
                                 .order_by(PushSubscription.created_at, PushSubscription.id))
    return list(rows)
