"""An agency issues an order, the person pays by card at the sandbox gateway (its own process, over
loopback), the agency receives the signed callback, the ledger balances, reconciliation finds no difference."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.platform.db import create_session_factory, utcnow
from api.platform.webhooks import verify_webhook
from payments import ledger, reconciliation
from payments.callbacks import deliver_due
from payments.gateways.sandbox import SandboxGateway
from payments.models import CallbackMessage, PaymentEvent
from payments.service import RANK
from tests.api.conftest import operation
from tests.payments.conftest import CALLBACK_KEY, GATEWAY_SECRET, PaymentPortal, free_port, serve_in_loop
from tests.payments.helpers import pay_at_gateway, raw_id, start, wait_for_state


async def test_order_paid_by_card_end_to_end(payment_portal: PaymentPortal, engine: AsyncEngine) -> None:
    pp = payment_portal
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    hook_port = free_port()
    async with serve_in_loop(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), hook_port):
        # The agency registers where it wants outcomes, and issues an order for 山田 太郎 by its own code.
        endpoint = await pp.client.put("/payments/v1/callback-endpoint",
                                       json={"url": f"http://127.0.0.1:{hook_port}/hook"},
                                       headers=pp.agency_headers())
        assert endpoint.status_code == 200
        secret = endpoint.json()["secret"]
        created = await pp.create_order(amount=12_000, reference="TAX-2026-001")
        assert created.status_code == 201
        assert created.json()["amount"] == 12_000 and created.json()["state"] == "open"

        # The person sees it due, with its slip, and starts paying by card.
        due = await pp.portal.query(operation("PaymentOrdersDue"), {}, token=pp.portal.father_token)
        [edge] = due["data"]["paymentOrders"]["edges"]
        assert edge["node"]["amount"] == 12_000 and edge["node"]["agencyName"] == "麹町税務署"
        assert edge["node"]["slipQrPayload"].startswith("MPPAY1:")
        started = await start(pp, str(raw_id(edge["node"]["id"])))
        payment = started["data"]["paymentStart"]
        assert payment["state"] == {"status": "STARTED", "finished": False, "code": None, "message": None}
        payment_id = raw_id(payment["id"])

        # The hosted page, submitted like a browser would; the gateway sends us back to the return URL.
        submitted = await pay_at_gateway(payment["nextUrl"])
        assert submitted.status_code == 303
        assert submitted.headers["location"] == f"{pp.public_url}/payments/return/{payment_id}"
        settled = await wait_for_state(engine, payment_id, "success")
        assert settled.card_last4 == "4242" and settled.paid_order_id is not None

        # The outbox worker delivers the signed callback.
        factory = create_session_factory(engine)
        async with httpx.AsyncClient() as client:
            run = await deliver_due(factory, client, CALLBACK_KEY, now=utcnow(), allow_private=True)
        assert (run.delivered, run.retrying, run.failed) == (1, 0, 0)
    [(headers, body)] = received
    verify_webhook(secret, headers, body, replay_guard=None, now=utcnow().timestamp())
    event = json.loads(body)
    assert event["type"] == "payment.succeeded"
    assert event["data"]["person_code"] == pp.father_code and event["data"]["reference"] == "TAX-2026-001"
    assert event["data"]["state"] == {"status": "success", "finished": True}

    async with factory() as session:
        assert await ledger.balances(session, pp.agency_id) == {ledger.GATEWAY_CLEARING: 12_000,
                                                                 ledger.AGENCY_COLLECTIONS: -12_000}
        assert await ledger.unbalanced_journals(session) == []
        # The gateway's "submitted" and "success" notifications race; a late "submitted" changes nothing (the
        # out-of-order cases have their own tests). Each handler reads the clock before it waits for the row, so
        # occurred_at can invert between the two: the history is read in lifecycle order.
        events = sorted(await session.scalars(select(PaymentEvent.state)
                                              .where(PaymentEvent.payment_id == payment_id)), key=RANK.__getitem__)
        assert [e.value for e in events] in (["created", "started", "submitted", "success"],
                                             ["created", "started", "success"])
        assert await session.scalar(select(func.count()).select_from(CallbackMessage)) == 1

    # The day's reconciliation (REST, against the gateway's settlement file) shows no difference.
    day = ledger.business_day(settled.captured_at)
    report = await pp.client.get(f"/payments/v1/reconciliation/{day.isoformat()}", headers=pp.agency_headers())
    assert report.json() == {
        "agency_id": str(pp.agency_id), "date": day.isoformat(), "balanced": True,
        "ledger": {"count": 1, "total": 12_000}, "settlement": {"count": 1, "total": 12_000, "fees": 120},
        "differences": [],
    }
    # Booking the payout and the fee empties the clearing account; the books still balance.
    gateway = SandboxGateway(pp.gateway_url, GATEWAY_SECRET)
    settlement = await gateway.settlement_file(day, str(pp.agency_id))
    await gateway.aclose()
    async with factory() as session, session.begin():
        assert await reconciliation.post_settlement(session, pp.agency_id, day, settlement) == 2
        assert await reconciliation.post_settlement(session, pp.agency_id, day, settlement) == 0
    async with factory() as session:
        balances = await ledger.balances(session, pp.agency_id)
    assert balances == {ledger.GATEWAY_CLEARING: 0, ledger.AGENCY_COLLECTIONS: -12_000,
                        ledger.AGENCY_SETTLED: 11_880, ledger.GATEWAY_FEES: 120}
    assert sum(balances.values()) == 0

    # The receipt is in the person's history.
    history = await pp.portal.query(operation("PaymentHistory"), {}, token=pp.portal.father_token)
    [paid] = history["data"]["payments"]["edges"]
    assert paid["node"]["receipt"]["amount"] == 12_000 and paid["node"]["receipt"]["cardLast4"] == "4242"
    assert paid["node"]["actingBasis"] == "self" and paid["node"]["order"]["purpose"] == "住民税 第1期"
    assert uuid.UUID(str(payment_id))
