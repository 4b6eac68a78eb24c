from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.certificates.models import CertificateIssuance, Channel
from api.notices.delivery_services import link_account, register_service, webhook_box
from api.people.individual_number import IndividualNumberCipher
from tests.api.conftest import Portal, operation, running_portal
from tests.conftest import TEST_DATA_KEY, make_settings

REQUEST = operation("CertificateRequest")


@pytest.fixture
async def portal_with_pki(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str,
                          tmp_path: Path) -> AsyncIterator[Portal]:
    settings = make_settings(database_url, certificate_pki_dir=tmp_path / "pki")
    async with running_portal(engine, cipher, settings) as portal:
        yield portal


async def _link(portal: Portal, person: uuid.UUID) -> uuid.UUID:
    async with portal.app.state.session_factory() as session, session.begin():
        await register_service(session, webhook_box(TEST_DATA_KEY), slug=f"post-{person.hex[:6]}", name="MyPost",
                               webhook_url="http://127.0.0.1:9/hook", allow_private=True)
        link, _ = await link_account(session, person, service_slug=f"post-{person.hex[:6]}", account_reference="a-1")
    return link.id


async def test_the_person_chooses_a_delivery_service_when_asking(portal_with_pki: Portal) -> None:
    portal = portal_with_pki
    own, mothers = await _link(portal, portal.father), await _link(portal, portal.mother)
    base = {"kind": "RESIDENT_RECORD", "channel": "DELIVERY"}
    refused = [await portal.query(REQUEST, {"input": {**base, "idempotencyKey": key, **extra}},
                                  token=portal.father_token)
               for key, extra in [("n", {"deliveryServiceLinkId": str(own), "individualNumber": True}),
                                  ("m", {"deliveryServiceLinkId": str(mothers)}),
                                  ("x", {"deliveryServiceLinkId": "not-a-link"})]]
    assert [(r["data"], r["errors"][0]["extensions"]["code"], r["errors"][0]["extensions"]["field"])
            for r in refused] == [(None, "INDIVIDUAL_NUMBER_NOT_DELIVERABLE", "individualNumber"),
                                  (None, "DELIVERY_SERVICE_NOT_LINKED", "deliveryServiceLinkId"),
                                  (None, "DELIVERY_SERVICE_NOT_LINKED", "deliveryServiceLinkId")]
    asked = await portal.query(REQUEST, {"input": {**base, "idempotencyKey": "ok", "deliveryServiceLinkId": str(own)}},
                               token=portal.father_token)
    assert (asked["data"]["requestCertificate"]["state"], asked["data"]["requestCertificate"]["fee"]) == (
        "AWAITING_PAYMENT", 300)
    async with portal.app.state.session_factory() as session:
        rows = list(await session.scalars(select(CertificateIssuance)))
        assert await session.scalar(select(func.count()).select_from(CertificateIssuance)) == 1
    assert [(r.channel, r.delivery_link_id) for r in rows] == [(Channel.DELIVERY, own)]
