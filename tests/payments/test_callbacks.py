"""Agency callbacks: retried on 5xx along the ladder, given up on 4xx, every attempt recorded."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.platform.db import create_session_factory, utcnow
from api.platform.settings import PROJECT_ROOT
from api.platform.webhooks import DestinationRefused, WebhookVerificationError, verify_webhook
from payments.callbacks import RETRY_LADDER, agency_secret, deliver_due, enqueue, set_endpoint
from payments.models import CallbackAttempt, CallbackEndpoint, CallbackMessage
from tests.conftest import LOG_GUARD
from tests.factories import make_agency
from tests.payments.conftest import CALLBACK_KEY, child_env, free_port, mynaportal, serve_in_loop


async def test_retry_ladder_then_failed(engine: AsyncEngine, session: AsyncSession) -> None:
    statuses = [503] * len(RETRY_LADDER) + [503]
    seen: list[str] = []

    async def hook(request: Request) -> Response:
        seen.append(request.headers["webhook-id"])
        return Response(status_code=statuses[len(seen) - 1])

    port = free_port()
    now = utcnow()
    async with session.begin():
        agency = await make_agency(session, "chiyoda-city")
        await set_endpoint(session, agency.id, f"http://127.0.0.1:{port}/hook", now=now, allow_private=True)
        message = await enqueue(session, agency_id=agency.id, event_type="payment.succeeded", payment_id=None,
                                data={"x": 1}, now=now)
    factory = create_session_factory(engine)
    async with serve_in_loop(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), port), \
            httpx.AsyncClient() as client:
        assert (await deliver_due(factory, client, "k" * 16, now=now, allow_private=True)).retrying == 1
        assert (await deliver_due(factory, client, "k" * 16, now=now, allow_private=True)).retrying == 0  # not due yet
        at = now
        for delay in RETRY_LADDER:
            at += delay
            run = await deliver_due(factory, client, "k" * 16, now=at, allow_private=True)
        assert (run.delivered, run.retrying, run.failed) == (0, 0, 1)
    assert seen == [str(message.id)] * (len(RETRY_LADDER) + 1)
    async with factory() as check:
        row = await check.get(CallbackMessage, message.id)
        assert row is not None and (row.state.value, row.attempts, row.last_status_code) == ("failed", 6, 503)
        assert await check.scalar(select(func.count()).select_from(CallbackAttempt)) == 6
    assert timedelta(seconds=60) == RETRY_LADDER[0]


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://10.0.0.8/hook", "http://agency.example/hook",
                                 "https://169.254.169.254/latest"])
async def test_production_refuses_callback_urls_into_private_networks(session: AsyncSession, url: str) -> None:
    async with session.begin():
        agency = await make_agency(session, "chiyoda-city")
        with pytest.raises(DestinationRefused):
            await set_endpoint(session, agency.id, url, now=utcnow(), allow_private=False)
    assert await session.scalar(select(func.count()).select_from(CallbackEndpoint)) == 0


async def test_a_registered_loopback_url_is_not_called_in_production(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    now = utcnow()
    async with session.begin():
        agency = await make_agency(session, "chiyoda-city")
        await set_endpoint(session, agency.id, "http://127.0.0.1:9/hook", now=now, allow_private=True)
        message = await enqueue(session, agency_id=agency.id, event_type="payment.succeeded", payment_id=None,
                                data={"x": 1}, now=now)
    factory = create_session_factory(engine)
    async with httpx.AsyncClient() as client:
        run = await deliver_due(factory, client, "k" * 16, now=now, allow_private=False)
    assert (run.delivered, run.retrying, run.failed) == (0, 0, 1)
    async with factory() as check:
        row = await check.get(CallbackMessage, message.id)
        assert row is not None and (row.state.value, row.last_status_code) == ("failed", None)


async def test_during_a_master_key_rotation_callbacks_carry_both_agencies_signatures(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    old_key, new_key = "old-master-key-0123456789", "new-master-key-0123456789"
    held: list[str] = []
    accepted: list[str] = []

    async def hook(request: Request) -> Response:
        try:
            accepted.append(verify_webhook(held, request.headers, await request.body(), replay_guard=None))
        except WebhookVerificationError:
            return Response(status_code=401)
        return Response(status_code=204)

    port = free_port()
    now = utcnow()
    async with session.begin():
        agency = await make_agency(session, "chiyoda-city")
        await set_endpoint(session, agency.id, f"http://127.0.0.1:{port}/hook", now=now, allow_private=True)
    factory = create_session_factory(engine)
    runs = []
    async with serve_in_loop(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), port), \
            httpx.AsyncClient() as client:
        # The agency still holds its old secret, then its new one; after the rotation ends, only the new works.
        for secret, keys in ((agency_secret(old_key, agency.id), (new_key, old_key)),
                             (agency_secret(new_key, agency.id), (new_key, old_key)),
                             (agency_secret(old_key, agency.id), (new_key,))):
            held[:] = [secret]
            async with factory() as writer, writer.begin():
                await enqueue(writer, agency_id=agency.id, event_type="payment.succeeded", payment_id=None,
                              data={"x": 1}, now=now)
            run = await deliver_due(factory, client, keys, now=now, allow_private=True)
            runs.append((run.delivered, run.failed))
    assert runs == [(1, 0), (1, 0), (0, 1)]
    assert len(accepted) == 2


async def test_deliver_callbacks_command_delivers_a_signed_callback(engine: AsyncEngine, database_url: str) -> None:
    """`mynaportal payments deliver-callbacks` in its own process (which imports only the payment tables, so the
    claim's RETURNING must type its columns itself) delivers to a loopback endpoint with a valid signature."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    port = free_port()
    now = utcnow()
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        agency = await make_agency(session, "chiyoda-city")
        await set_endpoint(session, agency.id, f"http://127.0.0.1:{port}/hook", now=now, allow_private=True)
        message = await enqueue(session, agency_id=agency.id, event_type="payment.succeeded", payment_id=None,
                                data={"order": "R-1"}, now=now)
    env = child_env(MYNAPORTAL_DATABASE_URL=database_url)
    async with serve_in_loop(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), port):
        process = await asyncio.create_subprocess_exec(
            *mynaportal("payments", "deliver-callbacks"), env=env, cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    LOG_GUARD.check("deliver-callbacks's stderr", err.decode())
    assert json.loads(out) == {"delivered": 1, "retrying": 0, "failed": 0}
    [(headers, body)] = received
    secret = agency_secret(CALLBACK_KEY, agency.id)
    assert verify_webhook(secret, headers, body, replay_guard=None) == str(message.id)
    assert json.loads(body)["data"] == {"order": "R-1"}
    async with factory() as check:
        row = await check.get(CallbackMessage, message.id)
        assert row is not None and (row.state.value, row.attempts, row.last_status_code) == ("successful", 1, 204)
