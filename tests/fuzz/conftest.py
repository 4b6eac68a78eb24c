"""The portal as the fuzz tests meet it: served on loopback with the demo family, the sandbox CA, the sandbox
payment gateway, corporate data, an agency key with every scope, a corporate application id and an order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.agencies.credentials import agency_by_slug, issue_agency_key
from api.agencies.models import AgencyPersonCode
from api.certificates.kiosk import register_kiosk
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from corporate import application_ids
from payments.models import Payment
from tests.api.conftest import operation, running_portal
from tests.api.identity.conftest import ca_dir  # noqa: F401 (a fixture)
from tests.conftest import make_settings
from tests.corporate.conftest import load_aomori
from tests.payments.conftest import (  # noqa: F401 (gateway_url is a fixture)
    CALLBACK_KEY,
    GATEWAY_SECRET,
    TAX_OFFICE,
    free_port,
    gateway_url,
    serve_in_loop,
)
from tests.payments.helpers import global_id, raw_id


@dataclass
class FuzzPortal:
    base_url: str
    agency_key: str
    application_id: str
    person_token: str
    order_id: str
    person_code: str
    payment_id: str  # started by card at the sandbox gateway, amount 1000
    gateway_reference: str
    municipality_key: str  # Chiyoda's: the applications inbox answers only a municipality
    kiosk_key: str  # a registered kiosk (api.certificates.kiosk)


@pytest.fixture
async def fuzz_portal(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str,
                      gateway_url: str, ca_dir: Path, tmp_path: Path  # noqa: F811
                      ) -> AsyncIterator[FuzzPortal]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, payment_gateway_url=gateway_url, payment_gateway_secret=GATEWAY_SECRET,
                             payment_callback_key=CALLBACK_KEY, public_url=base_url, sandbox_ca_dir=ca_dir,
                             corporate_rate=1_000_000, corporate_burst=1_000_000)
    await load_aomori(engine, tmp_path)
    async with running_portal(engine, cipher, settings) as portal:
        async with create_session_factory(engine)() as session, session.begin():
            agency = await agency_by_slug(session, TAX_OFFICE)
            assert agency is not None
            key = await issue_agency_key(session, agency.id, label="fuzz")
            chiyoda = await agency_by_slug(session, "chiyoda-city")
            assert chiyoda is not None
            municipality_key = await issue_agency_key(session, chiyoda.id, label="fuzz")
            application = await application_ids.issue(session, "fuzz")
            father_code = await session.scalar(select(AgencyPersonCode.code).where(
                AgencyPersonCode.agency_id == agency.id, AgencyPersonCode.person_id == portal.father))
            _, kiosk_key = await register_kiosk(session, terminal_id="FUZZ-1", store_name="fuzz", operator="fuzz")
        async with serve_in_loop(portal.app, port), httpx.AsyncClient(base_url=base_url) as client:
            order = await client.post("/payments/v1/orders", headers={
                "authorization": f"Bearer {key}", "idempotency-key": str(uuid.uuid4())}, json={
                "person_code": father_code, "amount": 1000, "purpose": "fuzz",
                "due_date": (date.today() + timedelta(days=30)).isoformat(),
                "reference": "fuzz-1"})
            assert order.status_code == 201, order.text
            # A second order, paid for by card: its payment is what the gateway's notifications talk about.
            paid = await client.post("/payments/v1/orders", headers={
                "authorization": f"Bearer {key}", "idempotency-key": str(uuid.uuid4())}, json={
                "person_code": father_code, "amount": 1000, "purpose": "fuzz",
                "due_date": (date.today() + timedelta(days=30)).isoformat(), "reference": "fuzz-2"})
            started = await portal.query(operation("PaymentStart"), {
                "orderId": global_id("PaymentOrder", paid.json()["order_id"]), "method": "CARD",
                "idempotencyKey": str(uuid.uuid4())}, token=portal.father_token)
            payment_id = raw_id(started["data"]["paymentStart"]["id"])
            async with create_session_factory(engine)() as session:
                payment = await session.get(Payment, payment_id)
                assert payment is not None and payment.gateway_reference is not None
            yield FuzzPortal(base_url, key, application.application_id, portal.father_token,
                             order.json()["order_id"], father_code, str(payment_id), payment.gateway_reference,
                             municipality_key, kiosk_key)
