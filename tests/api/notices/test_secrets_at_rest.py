from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.notices.delivery_services import register_service, rotate_service_secret, webhook_box
from api.notices.models import DeliveryService
from api.notices.secrets_at_rest import reseal_secrets
from api.platform.db import create_session_factory
from push.models import VapidKey
from push.vapid import VapidSigner, current_key, vapid_box
from tests.conftest import TEST_DATA_KEY

NEW_ROOT = bytes([42]) * 32
NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


async def test_secrets_sealed_under_the_old_root_move_to_the_new_one_once(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        vapid = await current_key(session, vapid_box(TEST_DATA_KEY))
        await register_service(session, webhook_box(TEST_DATA_KEY), slug="mypost", name="MyPost",
                               webhook_url="http://127.0.0.1/h", allow_private=True)
        new = await rotate_service_secret(session, webhook_box(TEST_DATA_KEY), "mypost", grace=timedelta(hours=1),
                                          now=NOW)
        old = webhook_box(TEST_DATA_KEY).open((await session.scalar(
            select(DeliveryService.previous_secret_ciphertext))) or b"").decode()
    # Between the new root's deployment and the job, the previous root still opens everything.
    during = webhook_box(NEW_ROOT, [TEST_DATA_KEY])
    async with factory() as session:
        service = await session.scalar(select(DeliveryService))
        assert service is not None and during.open(service.secret_ciphertext).decode() == new
    with pytest.raises(InvalidTag):
        webhook_box(NEW_ROOT).open(service.secret_ciphertext)

    async with factory() as session, session.begin():
        assert await reseal_secrets(session, NEW_ROOT, [TEST_DATA_KEY]) == 3
    async with factory() as session, session.begin():
        assert await reseal_secrets(session, NEW_ROOT, [TEST_DATA_KEY]) == 0

    # The new root alone now opens every secret, with the same values.
    async with factory() as session:
        service = await session.scalar(select(DeliveryService))
        key = await session.get(VapidKey, vapid.generation)
    assert service is not None and key is not None and service.previous_secret_ciphertext is not None
    only_new = webhook_box(NEW_ROOT)
    assert (only_new.open(service.secret_ciphertext).decode(),
            only_new.open(service.previous_secret_ciphertext).decode()) == (new, old)
    signer = VapidSigner(subject="mailto:push@example.jp")
    signer.load(key, vapid_box(NEW_ROOT))
    assert signer.keys[vapid.generation][1] == vapid.public_key


async def test_a_secret_under_no_configured_root_stops_the_job_and_changes_nothing(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await current_key(session, vapid_box(TEST_DATA_KEY))
        before = await session.scalar(select(VapidKey.private_key_ciphertext))
    with pytest.raises(InvalidTag):
        async with factory() as session, session.begin():
            await reseal_secrets(session, NEW_ROOT, [bytes([1]) * 32])
    async with factory() as session:
        assert await session.scalar(select(VapidKey.private_key_ciphertext)) == before
