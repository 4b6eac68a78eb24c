from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.certificates import kiosk, pki
from api.certificates.issuing import CertificateIssuer
from api.certificates.models import Kiosk
from api.demo import seed_demo
from api.identity.challenges import login_message
from api.identity.sandbox_ca import SandboxCA
from api.identity.service import IdentityService
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from nfc_bridge.jpki import Key
from nfc_bridge.virtual_card.store import CardData
from payments.models import OrderState, PaymentOrder
from tests.api.conftest import running_portal
from tests.api.identity.conftest import PUBLIC_URL, IdentityPortal, b64, ca_dir, card_sign, sandbox_ca
from tests.conftest import make_settings

__all__ = ["ca_dir", "sandbox_ca"]  # the identity tests' session CA, shared


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certificate-pki") / "keys"


@pytest.fixture(scope="session")
def issuer(pki_dir: Path) -> Iterator[CertificateIssuer]:
    """One issuer for the session, as one per process in the server: fonts parsed and keys loaded once."""
    yield CertificateIssuer(pki.load_or_create_sandbox(pki_dir, {}), public_url="http://portal.test",
                            sandbox_dir=pki_dir)


@dataclass
class Family:
    sf: async_sessionmaker[AsyncSession]
    father: uuid.UUID
    mother: uuid.UUID
    child: uuid.UUID


@pytest.fixture
async def family(engine: AsyncEngine, cipher: IndividualNumberCipher) -> AsyncIterator[Family]:
    sf = create_session_factory(engine)
    async with sf() as session, session.begin():
        father, mother, child = (await seed_demo(session, cipher)).people
    yield Family(sf, father, mother, child)


async def settle(sf: async_sessionmaker[AsyncSession], order_id: uuid.UUID | None) -> None:
    """The order paid (the gateway's settlement, which payments' own tests cover end to end)."""
    async with sf() as session, session.begin():
        await session.execute(update(PaymentOrder).where(PaymentOrder.id == order_id).values(state=OrderState.PAID))


@dataclass
class KioskPortal:
    identity: IdentityPortal
    terminal: Kiosk
    key: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.identity.portal.client

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key or self.key}", **extra}

    async def insert_card(self, data: CardData, key: str | None = None) -> httpx.Response:
        """The kiosk reads the card: a challenge, the card's signature with its authentication key (PIN on the
        card, through the card emulator), the certificate and its CA."""
        started = (await self.client.post("/kiosk/v1/challenges", headers=self.headers(key))).json()
        message = login_message(started["client_id"], base64.b64decode(started["nonce"]))
        signature = card_sign(data, Key.AUTH, message)
        return await self.client.post("/kiosk/v1/sessions", headers=self.headers(key), json={
            "challenge_id": started["challenge_id"], "certificate": b64(data.der("auth_cert")),
            "chain": [b64(data.der("auth_ca_cert"))], "signature": b64(signature)})


async def add_kiosk(sf: async_sessionmaker[AsyncSession], terminal_id: str) -> tuple[Kiosk, str]:
    async with sf() as session, session.begin():
        return await kiosk.register_kiosk(session, terminal_id=terminal_id, store_name=f"千代田{terminal_id}店",
                                          operator="サンプルマート")


@pytest.fixture
async def kiosk_portal(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str, ca_dir: Path,
                       sandbox_ca: SandboxCA, pki_dir: Path) -> AsyncIterator[KioskPortal]:
    settings = make_settings(database_url, sandbox_ca_dir=ca_dir, public_url=PUBLIC_URL,
                             certificate_pki_dir=pki_dir, revocation_max_age=dt.timedelta(0))
    async with running_portal(engine, cipher, settings) as portal:
        transport = httpx.ASGITransport(app=portal.app)
        identity_service = IdentityService.from_settings(settings, portal.app.state.session_factory,
                                                         transport=transport)
        portal.app.state.identity.service = identity_service
        holder = IdentityPortal(portal, identity_service, transport, engine, cipher, sandbox_ca,  # type: ignore[arg-type]
                                dt.datetime.now(dt.UTC))
        terminal, key = await add_kiosk(portal.app.state.session_factory, "K0001")
        yield KioskPortal(holder, terminal, key)
