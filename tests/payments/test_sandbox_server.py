"""The sandbox gateway keeps its state in the database: two processes share it, a killed process loses nothing,
and the database refuses refunds beyond the captured amount however many arrive at once."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.platform.db import create_session_factory
from payments.gateways.sandbox_models import SandboxNotificationRow, SandboxRefundRow, SandboxSessionRow
from payments.gateways.sandbox_server import Notifier
from payments.gateways.sandbox_store import GatewayStore, NewSession, now_utc
from tests.payments.conftest import GATEWAY_SECRET, free_port, serve_in_loop, start_gateway, wait_until_up

AUTH = {"authorization": f"Bearer {GATEWAY_SECRET}"}
NOWHERE = "http://127.0.0.1:9/unreachable"  # notifications fail and stay owed


def new_session_body(reference: str, amount: int = 10_000) -> dict[str, object]:
    return {"merchant": "m-1", "merchant_reference": reference, "amount": amount, "currency": "JPY",
            "method": "card", "description": "住民税", "return_url": "http://127.0.0.1:9/back",
            "notification_url": NOWHERE, "expires_in": 600}


class Gateways:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.processes: list = []

    def start(self, port: int | None = None) -> str:
        port = port or free_port()
        process = start_gateway(port, self.database_url)
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/healthz", process)
        return url


@pytest.fixture
def gateways(database_url: str, engine: AsyncEngine) -> Iterator[Gateways]:
    """Gateway processes on the test's database (``engine`` empties its tables afterwards)."""
    started = Gateways(database_url)
    yield started
    for process in started.processes:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


async def pay(client: httpx.AsyncClient, base: str, reference: str, amount: int = 10_000) -> str:
    created = await client.post(f"{base}/v1/sessions", json=new_session_body(reference, amount), headers=AUTH)
    assert created.status_code == 201
    session_id = created.json()["id"]
    paid = await client.post(f"{base}/pay/{session_id}", data={"card_number": "4242424242424242", "action": "pay"})
    assert paid.status_code == 303
    return session_id


async def test_two_processes_share_sessions_and_a_killed_one_loses_nothing(gateways: Gateways,
                                                                          engine: AsyncEngine) -> None:
    first, second = gateways.start(), gateways.start()
    async with httpx.AsyncClient() as client:
        created = await client.post(f"{first}/v1/sessions", json=new_session_body("order-1"), headers=AUTH)
        assert created.status_code == 201
        session_id = created.json()["id"]
        again = await client.post(f"{second}/v1/sessions", json=new_session_body("order-1"), headers=AUTH)
        assert (again.status_code, again.json()["id"]) == (200, session_id)  # idempotent across processes
        gateways.processes[0].send_signal(signal.SIGKILL)
        gateways.processes[0].wait(timeout=10)
        paid = await client.post(f"{second}/pay/{session_id}", data={"card_number": "4242424242424242",
                                                                    "action": "pay"})
        assert paid.status_code == 303
        restarted = gateways.start()
        seen = (await client.get(f"{restarted}/v1/sessions/{session_id}", headers=AUTH)).json()
    assert (seen["state"], seen["amount"], seen["card_last4"]) == ("success", 10_000, "4242")
    async with create_session_factory(engine)() as session:
        owed = list(await session.scalars(select(SandboxNotificationRow.body)))
    # The outcome (the form's submission and its success were one change), owed to an unreachable merchant: kept in
    # the database for the retries.
    assert [b.split('"type": "')[1].split('"')[0] for b in owed] == ["session.success"]


async def test_concurrent_refunds_never_exceed_the_captured_amount(gateways: Gateways, engine: AsyncEngine) -> None:
    first, second = gateways.start(), gateways.start()
    async with httpx.AsyncClient(timeout=30) as client:
        session_id = await pay(client, first, "order-2")
        answers = await asyncio.gather(*(client.post(
            f"{(first, second)[index % 2]}/v1/sessions/{session_id}/refunds",
            json={"amount": 6_000, "refund_reference": f"refund-{index}"}, headers=AUTH) for index in range(8)))
        same = await asyncio.gather(*(client.post(
            f"{(first, second)[index % 2]}/v1/sessions/{session_id}/refunds",
            json={"amount": 4_000, "refund_reference": "refund-same"}, headers=AUTH) for index in range(4)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] + [409] * 7
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"REFUND_EXCEEDS_AVAILABLE"}
    assert sorted(a.status_code for a in same) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in same}) == 1
    async with create_session_factory(engine)() as session:
        refunded = await session.scalar(select(SandboxSessionRow.refunded_amount))
        rows = await session.scalar(select(func.count()).select_from(SandboxRefundRow))
        total = await session.scalar(select(func.sum(SandboxRefundRow.amount)))
    assert (refunded, rows, total) == (10_000, 2, 10_000)


async def test_the_database_refuses_a_refund_beyond_the_amount_even_without_the_store(engine: AsyncEngine) -> None:
    store = GatewayStore(create_session_factory(engine), "http://gw")
    _, created = await store.create(NewSession("m", "order-3", 500, "card", "", "http://r", NOWHERE, 600))
    assert created
    with pytest.raises(IntegrityError):
        async with create_session_factory(engine)() as session, session.begin():
            await session.execute(update(SandboxSessionRow).values(refunded_amount=501))


async def test_an_owed_notification_is_leased_then_swept_once(engine: AsyncEngine) -> None:
    store = GatewayStore(create_session_factory(engine), "http://gw")
    row, created = await store.create(NewSession("m", str(uuid.uuid4()), 700, "card", "", "http://r", NOWHERE, 600))
    assert created
    changed, owed = await store.change(row.id, ("created",), "success")
    assert changed is not None and changed.state == "success" and [o.attempts for o in owed] == [0]
    assert await store.change(row.id, ("created",), "cancelled", "P0040") == (None, [])  # finished stays
    assert await store.claim_due() == []  # leased to the writer, which may still deliver them
    async with create_session_factory(engine)() as session, session.begin():  # the writer died: lease ran out
        await session.execute(update(SandboxNotificationRow).values(next_attempt_at=now_utc() - timedelta(seconds=1)))
    swept = await store.claim_due()
    assert sorted(o.id for o in swept) == sorted(o.id for o in owed)
    assert await store.claim_due() == []  # one sweeper has them
    for notification in swept:
        await store.delivered(notification.id)
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(SandboxNotificationRow)) == 0


async def test_delivered_notifications_are_deleted_in_one_batch_and_a_failed_one_stays_owed(
    engine: AsyncEngine
) -> None:
    store = GatewayStore(create_session_factory(engine), "http://gw")
    received: list[str] = []

    async def merchant(request: Request) -> Response:
        received.append(request.headers["webhook-id"])
        return Response(status_code=503 if len(received) == 3 else 204)  # the third is refused for now

    transactions: list[str] = []
    listen = lambda connection: transactions.append("commit")  # noqa: E731
    port = free_port()
    owed = []
    async with serve_in_loop(Starlette(routes=[Route("/hook", merchant, methods=["POST"])]), port):
        for number in range(4):
            row, _ = await store.create(NewSession("m", f"batch-{number}", 100, "card", "", "http://r",
                                                   f"http://127.0.0.1:{port}/hook", 600))
            owed += (await store.change(row.id, ("created",), "success"))[1]
        notifier = Notifier(store, GATEWAY_SECRET, (30.0,), delete_delay=3.0)  # long enough for four deliveries
        async with httpx.AsyncClient() as notifier.client:
            event.listen(engine.sync_engine, "commit", listen)
            try:
                for notification in owed:
                    notifier.send([notification])
                    await asyncio.gather(*notifier.tasks)  # in turn: the third is the refused one
                assert notifier.deleter is not None
                await notifier.deleter
            finally:
                event.remove(engine.sync_engine, "commit", listen)
    assert received == [o.id for o in owed]
    assert notifier.delivered == []
    # One transaction deleted the three delivered; one rescheduled the refused one (its first retry in 30 s).
    assert len(transactions) == 2
    async with create_session_factory(engine)() as session:
        left = (await session.execute(select(SandboxNotificationRow.id, SandboxNotificationRow.attempts))).all()
    assert left == [(owed[2].id, 1)]


async def test_the_form_changes_a_live_session_of_its_method_once_and_refuses_the_rest(
        gateways: Gateways, engine: AsyncEngine) -> None:
    base = gateways.start()

    async def session(reference: str, **changes: object) -> str:
        created = await client.post(f"{base}/v1/sessions", json={**new_session_body(reference), **changes},
                                    headers=AUTH)
        assert created.status_code == 201
        return str(created.json()["id"])

    async def state(session_id: str) -> str:
        return str((await client.get(f"{base}/v1/sessions/{session_id}", headers=AUTH)).json()["state"])

    valid_card = {"card_number": "4242424242424242", "action": "pay"}
    async with httpx.AsyncClient() as client:
        card, bank, late, cancelled = (await session("f-card"), await session("f-bank", method="net_banking"),
                                       await session("f-late", expires_in=0), await session("f-cancel"))
        refused = await client.post(f"{base}/pay/{card}", data={"card_number": "4242424242424241", "action": "pay"})
        assert (refused.status_code, "Enter a valid card number." in refused.text) == (422, True)
        wrong_method = await client.post(f"{base}/pay/{bank}", data=valid_card)  # a card for a bank session
        assert (wrong_method.status_code, "Unknown account." in wrong_method.text) == (422, True)
        assert (await state(card), await state(bank)) == ("created", "created")
        assert (await client.post(f"{base}/pay/{bank}", data={"account_number": "1234567"})).status_code == 303
        await asyncio.sleep(0.01)
        assert (await client.post(f"{base}/pay/{late}", data=valid_card)).status_code == 410  # expired: not paid
        paid = await client.post(f"{base}/pay/{card}", data=valid_card)
        assert (paid.status_code, paid.headers["location"]) == (303, "http://127.0.0.1:9/back")
        assert (await client.post(f"{base}/pay/{card}", data=valid_card)).status_code == 410  # once
        assert (await client.post(f"{base}/pay/{cancelled}", data={"action": "cancel"})).status_code == 303
        assert (await client.post(f"{base}/pay/gws_nothing", data=valid_card)).status_code == 404
        assert [await state(s) for s in (card, bank, late, cancelled)] == ["success", "success", "timedout",
                                                                           "cancelled"]
    async with create_session_factory(engine)() as session_:
        owed = sorted(b.split('"type": "')[1].split('"')[0] for b in await session_.scalars(
            select(SandboxNotificationRow.body)))
    assert owed == ["session.cancelled", "session.success", "session.success", "session.timedout"]
