from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.certificates import pki
from api.certificates.issuing import CertificateIssuer
from api.demo import seed_demo
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory
from payments.models import OrderState, PaymentOrder


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
