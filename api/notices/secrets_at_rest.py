"""Sealing the secrets at rest anew after the root key (MYNAPORTAL_DATA_KEY) changed: VAPID private keys and
delivery services' webhook secrets (current and previous). Opened under any configured root, sealed under the
current one; a blob already sealed under it is left alone, so the job can run again at any time."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.notices.delivery_services import webhook_box
from api.notices.models import DeliveryService
from push.models import VapidKey
from push.vapid import vapid_box


async def reseal_secrets(session: AsyncSession, data_key: bytes, previous: Sequence[bytes]) -> int:
    """Seal every secret at rest under ``data_key``; return how many blobs were sealed anew."""
    resealed = 0
    box = vapid_box(data_key, previous)
    for key in await session.scalars(select(VapidKey).with_for_update()):
        if not box.sealed_by_current(key.private_key_ciphertext):
            key.private_key_ciphertext = box.seal(box.open(key.private_key_ciphertext))
            resealed += 1
    box = webhook_box(data_key, previous)
    for service in await session.scalars(select(DeliveryService).with_for_update()):
        if not box.sealed_by_current(service.secret_ciphertext):
            service.secret_ciphertext = box.seal(box.open(service.secret_ciphertext))
            resealed += 1
        if service.previous_secret_ciphertext is not None and not box.sealed_by_current(
                service.previous_secret_ciphertext):
            service.previous_secret_ciphertext = box.seal(box.open(service.previous_secret_ciphertext))
            resealed += 1
    await session.flush()
    return resealed
