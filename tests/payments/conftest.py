"""Payments fixtures: the sandbox gateway as its own process, the portal on loopback, an agency's key."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.agencies.credentials import agency_by_slug, issue_agency_key
from api.agencies.models import AgencyPersonCode
from api.migrate import migrate
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from api.platform.settings import PROJECT_ROOT
from tests.api.conftest import Portal, running_portal
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings
from tests.served import free_port

GATEWAY_SECRET = "test-gateway-secret-0123456789"
CALLBACK_KEY = "test-callback-key-0123456789"
TAX_OFFICE = "kojimachi-tax-office"


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MYNAPORTAL_")}
    env.update({"MYNAPORTAL_PAYMENT_GATEWAY_SECRET": GATEWAY_SECRET, "MYNAPORTAL_PAYMENT_CALLBACK_KEY": CALLBACK_KEY,
                "MYNAPORTAL_DATA_KEY": base64.b64encode(TEST_DATA_KEY).decode(),
                "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(TEST_LOOKUP_KEY).decode(), **extra})
    return env


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def mynaportal(*args: str) -> list[str]:
    return [sys.executable, "-c", "from api.cli import main; main()", *args]


def migrated_sqlite(folder: Path) -> str:
    """A fresh SQLite database with every migration applied; its URL."""
    url = f"sqlite+aiosqlite:///{folder / 'gateway.sqlite3'}"
    asyncio.run(migrate(make_settings(url)))
    return url


def start_gateway(port: int, database_url: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(mynaportal("dev-payment-gateway", "--port", str(port), "--database-url", database_url,
                                       *extra), env=child_env(), cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mynaportal dev-payment-gateway` in its own process on loopback, with its own database (a real PSP's
    state is not the portal's: the tests empty the portal's tables after each test)."""
    port = free_port()
    process = start_gateway(port, migrated_sqlite(tmp_path_factory.mktemp("gateway")))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/healthz", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@asynccontextmanager
async def serve_in_loop(app: Starlette, port: int) -> AsyncIterator[None]:
    """uvicorn on 127.0.0.1 in this event loop (the gateway must reach us over real HTTP)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@dataclass
class PaymentPortal:
    portal: Portal
    gateway_url: str
    public_url: str
    agency_id: uuid.UUID
    agency_key: str
    father_code: str
    child_code: str
    mother_code: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.portal.client

    async def create_order(self, *, amount: int = 12_000, reference: str | None = None, person_code: str | None = None,
                           key: str | None = None, **extra: Any) -> httpx.Response:
        body = {"person_code": person_code or self.father_code, "amount": amount, "purpose": "住民税 第1期",
                "due_date": (date.today() + timedelta(days=30)).isoformat(),
                "reference": reference or f"R-{uuid.uuid4().hex[:10]}", **extra}
        return await self.client.post("/payments/v1/orders", json=body, headers=self.agency_headers(key))

    def agency_headers(self, key: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.agency_key}", "idempotency-key": key or str(uuid.uuid4())}


@pytest.fixture
async def payment_portal(
    engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str, gateway_url: str
) -> AsyncIterator[PaymentPortal]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, payment_gateway_url=gateway_url, payment_gateway_secret=GATEWAY_SECRET,
                             payment_callback_key=CALLBACK_KEY, public_url=public_url)
    async with running_portal(engine, cipher, settings) as portal:
        async with create_session_factory(engine)() as session, session.begin():
            agency = await agency_by_slug(session, TAX_OFFICE)
            assert agency is not None
            key = await issue_agency_key(session, agency.id, label="tests")
            codes = dict((await session.execute(select(AgencyPersonCode.person_id, AgencyPersonCode.code)
                                                .where(AgencyPersonCode.agency_id == agency.id))).all())
        async with serve_in_loop(portal.app, port):
            yield PaymentPortal(portal, gateway_url, public_url, agency.id, key, codes[portal.father],
                                codes[portal.child], codes[portal.mother])
