"""The server is killed (SIGKILL) after the gateway took the money but before we recorded it; the
recovery job (`mynaportal payments recover`, its own process) asks the gateway and settles the payment."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.agencies.credentials import agency_by_slug, issue_agency_key
from api.agencies.models import AgencyPersonCode
from api.demo import seed_demo
from api.identity.tokens import issue_token
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.settings import PROJECT_ROOT
from payments import ledger
from payments.models import CallbackMessage, Payment, PaymentOrder
from tests.api.conftest import operation
from tests.payments.conftest import TAX_OFFICE, child_env, free_port, mynaportal, wait_until_up
from tests.payments.helpers import global_id, pay_at_gateway, raw_id


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(mynaportal("serve", "--port", str(port)), env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def recover(env: dict[str, str]) -> dict[str, int]:
    done = subprocess.run(mynaportal("payments", "recover"), env=env, cwd=PROJECT_ROOT, capture_output=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


async def test_a_payment_the_server_never_heard_of_is_settled_by_recovery(
    engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str, gateway_url: str
) -> None:
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        father = (await seed_demo(session, cipher)).people[0]
        token = await issue_token(session, father, ttl=timedelta(minutes=15))
        agency = await agency_by_slug(session, TAX_OFFICE)
        assert agency is not None
        agency_key = await issue_agency_key(session, agency.id, label="tests")
        code = await session.scalar(select(AgencyPersonCode.code).where(AgencyPersonCode.agency_id == agency.id,
                                                                        AgencyPersonCode.person_id == father))
    port = free_port()
    server_url = f"http://127.0.0.1:{port}"
    env = child_env(MYNAPORTAL_DATABASE_URL=database_url, MYNAPORTAL_PAYMENT_GATEWAY_URL=gateway_url,
                    MYNAPORTAL_PUBLIC_URL=server_url, MYNAPORTAL_LOG_LEVEL="WARNING")
    server = start_server(env, port)
    try:
        wait_until_up(f"{server_url}/healthz", server)
        async with httpx.AsyncClient(base_url=server_url) as client:
            order = await client.post("/payments/v1/orders", json={
                "person_code": code, "amount": 21_000, "purpose": "国民年金保険料 2026年4月分",
                "due_date": "2026-12-31", "payable_until": "2027-01-31", "reference": "NP-2026-04"},
                headers={"authorization": f"Bearer {agency_key}", "idempotency-key": "order-np-2026-04"})
            assert order.status_code == 201, order.text
            started = (await client.post("/graphql", json={
                "query": operation("PaymentStart"),
                "variables": {"orderId": global_id("PaymentOrder", order.json()["order_id"]), "method": "CARD",
                              "idempotencyKey": "pay-np-2026-04"}},
                headers={"authorization": f"Bearer {token}"})).json()["data"]["paymentStart"]
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert server.returncode == -signal.SIGKILL

    # The gateway accepts the card; its notification cannot reach the dead server.
    submitted = await pay_at_gateway(started["nextUrl"])
    assert submitted.status_code == 303
    payment_id = raw_id(started["id"])
    async with factory() as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None and payment.state.value == "started"

    recovered = await asyncio.to_thread(recover, env)
    assert recovered == {"checked": 1, "settled": 1, "expired": 0, "unreachable": 0,
                                            "refunds_finished": 0}
    assert (await asyncio.to_thread(recover, env))["checked"] == 0

    async with factory() as session:
        payment = await session.get(Payment, payment_id, populate_existing=True)
        assert payment is not None and payment.state.value == "success" and payment.paid_order_id is not None
        order_state = await session.scalar(select(PaymentOrder.state).where(PaymentOrder.id == payment.order_id))
        assert order_state.value == "paid"
        assert await ledger.balances(session, agency.id) == {ledger.GATEWAY_CLEARING: 21_000,
                                                              ledger.AGENCY_COLLECTIONS: -21_000}
        assert await session.scalar(select(func.count()).select_from(CallbackMessage)) == 1
