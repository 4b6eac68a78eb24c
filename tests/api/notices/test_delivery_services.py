from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.notices.delivery_services import (
    WebhookMessage,
    register_service,
    retire_previous_secret,
    rotate_service_secret,
    send_webhook,
    service_by_slug,
    signing_secrets,
    webhook_box,
)
from api.notices.models import Audience, Category, DeliveryState, Notice, Priority
from api.platform.db import create_session_factory
from api.platform.webhooks import WebhookVerificationError, verify_webhook
from tests.conftest import TEST_DATA_KEY
from tests.payments.conftest import free_port, serve_in_loop

NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
BOX = webhook_box(TEST_DATA_KEY)


def receiver(held: list[str], accepted: list[str]) -> Starlette:
    """A delivery service that verifies each message with the secret(s) it holds at that moment."""

    async def hook(request: Request) -> Response:
        try:
            accepted.append(verify_webhook(list(held), request.headers, await request.body(), replay_guard=None))
        except WebhookVerificationError:
            return Response(status_code=401)
        return Response(status_code=204)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def message(url: str, sealed: tuple[bytes, ...]) -> WebhookMessage:
    notice = Notice(id=uuid.uuid4(), agency_id=uuid.uuid4(), audience=Audience.PERSON, category=Category.TAX,
                    priority=Priority.NORMAL, title="住民税", body="納付書", action_url=None, publish_at=NOW,
                    expires_at=None)
    return WebhookMessage(notice, "千代田区", uuid.uuid4(), "acct-1", url, sealed)


async def test_a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    async with factory() as session, session.begin():
        _, old = await register_service(session, BOX, slug="mypost", name="MyPost", webhook_url=url,
                                        allow_private=True)
    async with factory() as session, session.begin():
        new = await rotate_service_secret(session, BOX, "mypost", grace=timedelta(hours=1), now=NOW)
    assert new != old and new.startswith("whsec_")
    async with factory() as session:
        service = await service_by_slug(session, "mypost")
    assert service is not None
    during = signing_secrets(service, NOW + timedelta(minutes=59))
    after = signing_secrets(service, NOW + timedelta(hours=1))
    assert [BOX.open(s).decode() for s in during] == [new, old]
    assert [BOX.open(s).decode() for s in after] == [new]

    held, accepted = [old], []
    async with serve_in_loop(receiver(held, accepted), port), httpx.AsyncClient() as client:
        # The service still holds the old secret, then switches to the new one: no message is refused.
        first = await send_webhook(client, BOX, message(url, during), now=NOW, allow_private=True)
        held[:] = [new]
        second = await send_webhook(client, BOX, message(url, during), now=NOW, allow_private=True)
        # After the grace period a receiver that never switched refuses.
        held[:] = [old]
        third = await send_webhook(client, BOX, message(url, after), now=NOW, allow_private=True)
    assert [r.state for r in (first, second, third)] == [DeliveryState.DELIVERED, DeliveryState.DELIVERED,
                                                          DeliveryState.PERMANENT_FAILURE]
    assert len(accepted) == 2


async def test_retiring_the_previous_secret_ends_its_signatures_at_once(engine: AsyncEngine) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        await register_service(session, BOX, slug="mypost", name="MyPost", webhook_url="http://127.0.0.1/h",
                               allow_private=True)
        assert await retire_previous_secret(session, "mypost") is False
        new = await rotate_service_secret(session, BOX, "mypost", grace=timedelta(days=7), now=NOW)
        assert await retire_previous_secret(session, "mypost") is True
    async with factory() as session:
        service = await service_by_slug(session, "mypost")
        assert service is not None
        assert [BOX.open(s).decode() for s in signing_secrets(service, NOW)] == [new]
        assert (service.previous_secret_ciphertext, service.previous_secret_until) == (None, None)
    async with factory() as session, session.begin():
        with pytest.raises(Exception, match="No such delivery service"):
            await rotate_service_secret(session, BOX, "nobody", grace=timedelta(hours=1), now=NOW)
