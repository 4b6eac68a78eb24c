from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.certificates import content, delivery, service
from api.certificates.issuing import CertificateIssuer
from api.certificates.models import CertificateIssuance, CertificateKind, Channel, IssuanceState
from api.notices.delivery_services import (
    link_account,
    new_fetch_key,
    register_service,
    unlink_account,
    webhook_box,
)
from api.notices.models import Notice, NoticeDelivery
from api.notices.worker import Worker, WorkerConfig
from api.people.individual_number import IndividualNumberCipher
from api.platform.access_records import access_records_for
from api.platform.db import utcnow
from api.platform.errors import PortalError
from tests.api.certificates.conftest import Family, settle
from tests.api.certificates.test_service import pdf_text
from tests.api.certificates.test_signing import _context
from tests.api.conftest import Portal, running_portal
from tests.conftest import TEST_DATA_KEY, make_settings
from tests.payments.conftest import free_port, serve_in_loop

TODAY = date(2026, 12, 5)
BOX = webhook_box(TEST_DATA_KEY)


@dataclass
class Service:
    slug: str
    secret: str
    key: str
    link_id: uuid.UUID


async def add_service(family: Family, slug: str, url: str, person: uuid.UUID | None = None) -> Service:
    async with family.sf() as session, session.begin():
        _, secret = await register_service(session, BOX, slug=slug, name=f"{slug}ポスト", webhook_url=url,
                                           allow_private=True)
        key = await new_fetch_key(session, slug)
        link, _ = await link_account(session, person or family.father, service_slug=slug,
                                     account_reference=f"{slug}-acct-1")
    return Service(slug, secret, key, link.id)


def _request(family: Family, link: uuid.UUID | None, key: str = "d1", **options: Any) -> service.CertificateRequest:
    return service.CertificateRequest(family.father, CertificateKind.RESIDENT_RECORD, content.Options(**options),
                                      Channel.DELIVERY, key, link)


async def issued_to(family: Family, issuer: CertificateIssuer, cipher: IndividualNumberCipher,
                    link: uuid.UUID) -> CertificateIssuance:
    row = await service.request_certificate(family.sf, issuer, family.father, _request(family, link), today=TODAY)
    await settle(family.sf, row.payment_order_id)
    return await service.collect(family.sf, issuer, family.father, row.id, cipher=cipher, today=TODAY,
                                 webhook_box=BOX)


async def offered_url(family: Family, row: CertificateIssuance) -> str:
    async with family.sf() as session:
        sealed = await session.scalar(select(NoticeDelivery.payload_ciphertext).where(
            NoticeDelivery.notice_id == row.notice_id, NoticeDelivery.target_id == row.delivery_link_id))
    assert sealed is not None
    return str(json.loads(BOX.open(sealed))["certificate"]["fetch"]["url"])


@dataclass
class Mailbox:
    """Delivery services on loopback (/hook/<slug>): each verifies its webhooks with the standardwebhooks library
    and its own secret; mypost answers 503 to its first (a retry must follow), then takes the offered PDF with its
    own fetch key."""

    services: dict[str, Service] = field(default_factory=dict)
    received: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fetched: list[tuple[str, httpx.Response]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            slug = request.path_params["slug"]
            own = self.services[slug]
            payload = Webhook(own.secret).verify(await request.body(), dict(request.headers))
            self.received.append((slug, request.headers["webhook-id"], payload))
            if slug == "mypost" and len([r for r in self.received if r[0] == slug]) == 1:
                return Response(status_code=503)
            offer = payload["data"].get("certificate")
            if offer is not None:
                async with httpx.AsyncClient() as client:
                    self.fetched.append((slug, await client.post(offer["fetch"]["url"], headers={
                        "authorization": f"Bearer {own.key}"})))
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook/{slug}", hook, methods=["POST"])])


@pytest.fixture
async def live_portal(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str,
                      pki_dir: Path) -> AsyncIterator[tuple[Portal, str]]:
    """The portal served over HTTP on loopback (the delivery service fetches from it as from the real one)."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, public_url=public_url, certificate_pki_dir=pki_dir)
    async with running_portal(engine, cipher, settings) as portal, serve_in_loop(portal.app, port):
        yield portal, public_url


@pytest.fixture
async def portal_with_pki(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str,
                          pki_dir: Path) -> AsyncIterator[Portal]:
    async with running_portal(engine, cipher, make_settings(database_url, certificate_pki_dir=pki_dir)) as portal:
        yield portal


async def test_the_chosen_service_is_offered_the_pdf_and_takes_it_once(
        live_portal: tuple[Portal, str], issuer: CertificateIssuer, cipher: IndividualNumberCipher) -> None:
    portal, public_url = live_portal
    family = Family(portal.app.state.session_factory, portal.father, portal.mother, portal.child)
    local = copy.copy(issuer)
    local.public_url = public_url
    mailbox, port = Mailbox(), free_port()
    chosen = await add_service(family, "mypost", f"http://127.0.0.1:{port}/hook/mypost")
    other = await add_service(family, "otherpost", f"http://127.0.0.1:{port}/hook/otherpost")
    mailbox.services = {"mypost": chosen, "otherpost": other}
    row = await issued_to(family, local, cipher, chosen.link_id)
    assert (row.state, row.delivery_link_id) == (IssuanceState.ISSUED, chosen.link_id)
    again = await service.collect(family.sf, local, family.father, row.id, cipher=cipher, today=TODAY,
                                  webhook_box=BOX)
    assert (again.id, again.notice_id, again.fetch_token_hash) == (row.id, row.notice_id, row.fetch_token_hash)

    worker = Worker(family.sf, WorkerConfig(data_key=TEST_DATA_KEY, vapid_subject="mailto:ops@example.test",
                                            allow_private_destinations=True))
    async with serve_in_loop(mailbox.app(), port), httpx.AsyncClient() as client:
        assert await worker.run_once(client) == 2  # mypost: 503, to be retried; otherpost: the notice alone
        async with family.sf() as session, session.begin():  # the retry's time has come
            await session.execute(update(NoticeDelivery).where(NoticeDelivery.target_id == chosen.link_id)
                                  .values(available_at=utcnow()))
        assert await worker.run_once(client) == 1
    mine = [(message_id, payload) for slug, message_id, payload in mailbox.received if slug == "mypost"]
    (theirs,) = [payload for slug, _, payload in mailbox.received if slug == "otherpost"]
    assert "certificate" not in theirs["data"] and theirs["data"]["notice"]["id"] == str(row.notice_id)
    (first_id, first), (second_id, second) = mine
    assert first_id == second_id == f"msg_{row.notice_id.hex}{chosen.link_id.hex}"  # one message, retried
    assert first["data"]["certificate"] == second["data"]["certificate"]  # the same link, no second document
    offer = second["data"]["certificate"]
    assert row.document_sha256 is not None and row.issued_at is not None
    assert offer == {"type": "certificate.issued", "id": str(row.id), "kind": "resident-record",
                     "title": "住民票の写し", "issuer": "千代田区長", "serial": row.serial,
                     "issued_at": row.issued_at.isoformat(), "pages": 1, "content_type": "application/pdf",
                     "sha256": row.document_sha256.hex(),
                     "fetch": {"url": offer["fetch"]["url"], "method": "POST",
                               "expires_at": offer["fetch"]["expires_at"], "once": True}}
    token = offer["fetch"]["url"].removeprefix(f"{public_url}/delivery/v1/documents/")
    assert len(token) == 43 and hashlib.sha256(token.encode()).digest() == row.fetch_token_hash
    assert second["data"]["account"] == "mypost-acct-1" and "山田" not in json.dumps(offer, ensure_ascii=False)

    ((fetcher, taken),) = mailbox.fetched
    assert fetcher == "mypost"
    assert (taken.status_code, taken.headers["content-type"]) == (200, "application/pdf")
    assert taken.headers["x-content-sha256"] == hashlib.sha256(taken.content).hexdigest() == offer["sha256"]
    assert "山田太郎" in pdf_text(taken.content)
    signature, stamp = PdfFileReader(io.BytesIO(taken.content)).embedded_signatures
    status = await async_validate_pdf_signature(signature, _context(issuer), skip_diff=False)
    stamped = await async_validate_pdf_timestamp(stamp, _context(issuer))
    assert (status.intact, status.valid, status.trusted, stamped.valid, stamped.trusted) == (True,) * 5

    async with family.sf() as session:
        kept = await session.get_one(CertificateIssuance, row.id)
        offers = await session.scalar(select(func.count()).select_from(NoticeDelivery).where(
            NoticeDelivery.payload_ciphertext.is_not(None)))
        counts = [await session.scalar(select(func.count()).select_from(table)) for table in
                  (CertificateIssuance, Notice)]
        records = await access_records_for(session, family.father)
    assert (kept.state, kept.document, offers, counts) == (IssuanceState.HANDED, None, 0, [1, 1])
    assert [(r.actor_operator, r.purpose) for r in records] == [
        ("千代田区長（証明書交付）", "certificate:resident-record:delivery:self:mypostポスト"),
        ("mypostポスト（民間送達）", f"certificate-delivery:resident-record:{row.serial}")]
    async with httpx.AsyncClient() as client:
        twice = await client.post(offer["fetch"]["url"], headers={"authorization": f"Bearer {chosen.key}"})
    assert (twice.status_code, twice.headers["content-type"], twice.json()["code"]) == (
        409, "application/problem+json", "DOCUMENT_ALREADY_HANDED")


async def test_a_wrong_service_a_missing_key_and_an_expired_link_get_nothing(
        portal_with_pki: Portal, issuer: CertificateIssuer, cipher: IndividualNumberCipher) -> None:
    portal = portal_with_pki
    family = Family(portal.app.state.session_factory, portal.father, portal.mother, portal.child)
    chosen = await add_service(family, "mypost", "http://127.0.0.1:9/hook")
    other = await add_service(family, "otherpost", "http://127.0.0.1:9/hook", person=family.mother)
    row = await issued_to(family, issuer, cipher, chosen.link_id)
    path = (await offered_url(family, row)).removeprefix("http://portal.test")

    async def fetch(key: str | None, where: str = path) -> tuple[int, str]:
        response = await portal.client.post(where, headers={"authorization": f"Bearer {key}"} if key else {})
        return response.status_code, response.json()["code"]

    assert await fetch(other.key) == (404, "NOT_FOUND")  # a valid key of another service: nothing to learn
    assert await fetch(None) == (401, "UNAUTHENTICATED")
    assert await fetch("dsk_unknown") == (401, "UNAUTHENTICATED")
    assert await fetch(chosen.key, "/delivery/v1/documents/" + "x" * 43) == (404, "NOT_FOUND")
    async with family.sf() as session, session.begin():
        await session.execute(update(CertificateIssuance).values(fetch_until=utcnow() - timedelta(seconds=1)))
    assert await fetch(chosen.key) == (410, "FETCH_LINK_EXPIRED")
    async with family.sf() as session:
        kept = await session.get_one(CertificateIssuance, row.id)
        records = await access_records_for(session, family.father)
    # Nothing was handed: the document is still the person's, no fetch is on their record.
    assert (kept.state, kept.document is not None, [r.actor_operator for r in records]) == (
        IssuanceState.ISSUED, True, ["千代田区長（証明書交付）"])


async def test_the_individual_number_is_never_offered_and_a_link_is_the_requesters(
        family: Family, issuer: CertificateIssuer, cipher: IndividualNumberCipher) -> None:
    own = await add_service(family, "mypost", "http://127.0.0.1:9/hook")
    mothers = await add_service(family, "otherpost", "http://127.0.0.1:9/hook", person=family.mother)
    cases = [(_request(family, own.link_id, individual_number=True), "INDIVIDUAL_NUMBER_NOT_DELIVERABLE"),
             (_request(family, None), "BAD_USER_INPUT"),
             (_request(family, mothers.link_id), "DELIVERY_SERVICE_NOT_LINKED")]
    for new, code in cases:
        with pytest.raises(PortalError) as refused:
            await service.request_certificate(family.sf, issuer, family.father, new, today=TODAY)
        assert (refused.value.code, refused.value.extensions) == (
            code, {"field": "individualNumber" if code.startswith("INDIVIDUAL") else "deliveryServiceLinkId"})
    async with family.sf() as session:
        assert await session.scalar(select(func.count()).select_from(CertificateIssuance)) == 0


async def test_an_unlinked_service_stops_the_issue_before_any_document(
        family: Family, issuer: CertificateIssuer, cipher: IndividualNumberCipher) -> None:
    own = await add_service(family, "mypost", "http://127.0.0.1:9/hook")
    row = await service.request_certificate(family.sf, issuer, family.father, _request(family, own.link_id),
                                            today=TODAY)
    await settle(family.sf, row.payment_order_id)
    async with family.sf() as session, session.begin():
        await unlink_account(session, family.father, own.link_id)
    with pytest.raises(PortalError) as refused:
        await service.collect(family.sf, issuer, family.father, row.id, cipher=cipher, today=TODAY, webhook_box=BOX)
    assert refused.value.code == "DELIVERY_SERVICE_NOT_LINKED"
    async with family.sf() as session:
        kept = await session.get_one(CertificateIssuance, row.id)
        notices = await session.scalar(select(func.count()).select_from(Notice))
    assert (kept.state, kept.document, kept.fetch_token_hash, notices) == (
        IssuanceState.AWAITING_PAYMENT, None, None, 0)


async def test_take_refuses_after_the_end_in_the_domain_too(family: Family, issuer: CertificateIssuer,
                                                            cipher: IndividualNumberCipher) -> None:
    own = await add_service(family, "mypost", "http://127.0.0.1:9/hook")
    row = await issued_to(family, issuer, cipher, own.link_id)
    token = (await offered_url(family, row)).rsplit("/", 1)[1]
    assert row.fetch_until is not None
    with pytest.raises(PortalError) as late:
        await delivery.take(family.sf, own.key, token, now=row.fetch_until)
    assert late.value.code == "FETCH_LINK_EXPIRED"
    taken = await delivery.take(family.sf, own.key, token, now=row.fetch_until - timedelta(seconds=1))
    assert taken.filename == f"resident-record-{row.serial}.pdf" and taken.pdf.startswith(b"%PDF")


def test_the_link_still_works_at_the_webhook_s_last_retry() -> None:
    """A service that was down for a day gets a later attempt of the same webhook: its link must still work then."""
    from api.notices.outbox import webhook_retry_at

    offered = utcnow()
    attempt, attempts = offered, 1
    while (following := webhook_retry_at(attempts, attempt)) is not None:
        attempt, attempts = following, attempts + 1
    assert attempts == 6  # the first send and five retries
    assert offered + delivery.FETCH_TTL - attempt == timedelta(hours=1)  # an hour to fetch after the last one


async def _offers(family: Family) -> dict[uuid.UUID, bool]:
    """Each webhook job to a delivery service: whether it still carries an offer."""
    async with family.sf() as session:
        rows = (await session.execute(select(NoticeDelivery.notice_id, NoticeDelivery.payload_ciphertext).where(
            NoticeDelivery.channel == "webhook"))).all()
    return {notice: sealed is not None for notice, sealed in rows}


async def test_a_link_that_ran_out_untaken_is_offered_again_with_a_new_notice(
        family: Family, issuer: CertificateIssuer, cipher: IndividualNumberCipher) -> None:
    own = await add_service(family, "mypost", "http://127.0.0.1:9/hook")
    row = await issued_to(family, issuer, cipher, own.link_id)
    old_token = (await offered_url(family, row)).rsplit("/", 1)[1]
    assert row.fetch_until is not None and row.notice_id is not None

    async def again(who: uuid.UUID = family.father, at: datetime | None = None) -> CertificateIssuance:
        return await delivery.offer_again(family.sf, BOX, who, row.id, issuer.public_url, today=TODAY, now=at)

    with pytest.raises(PortalError) as early:
        await again(at=row.fetch_until - timedelta(seconds=1))
    assert (early.value.code, early.value.extensions) == ("FETCH_LINK_STILL_VALID",
                                                         {"until": row.fetch_until.isoformat()})
    with pytest.raises(PortalError) as stranger:
        await again(who=family.mother, at=row.fetch_until)
    assert stranger.value.code == "NOT_FOUND"

    renewed = await again(at=row.fetch_until)
    assert renewed.notice_id is not None and renewed.notice_id != row.notice_id
    assert renewed.fetch_until == row.fetch_until + delivery.FETCH_TTL
    assert await _offers(family) == {row.notice_id: False, renewed.notice_id: True}  # the old offer withdrawn
    async with family.sf() as session:
        notice = await session.get_one(Notice, renewed.notice_id)
    assert (notice.title, notice.recipient_count) == ("住民票の写しをmypostポストにもう一度送りました", 1)
    new_token = (await offered_url(family, renewed)).rsplit("/", 1)[1]
    assert new_token != old_token
    with pytest.raises(PortalError) as dead:  # the old link stays dead
        await delivery.take(family.sf, own.key, old_token, now=row.fetch_until)
    assert dead.value.code == "NOT_FOUND"
    taken = await delivery.take(family.sf, own.key, new_token, now=row.fetch_until)
    assert taken.sha256 == (row.document_sha256 or b"").hex()
    with pytest.raises(PortalError) as handed:
        await again(at=renewed.fetch_until)
    assert handed.value.code == "DOCUMENT_ALREADY_HANDED"


async def test_two_at_once_offer_one_new_link(family: Family, issuer: CertificateIssuer,
                                              cipher: IndividualNumberCipher) -> None:
    own = await add_service(family, "mypost", "http://127.0.0.1:9/hook")
    row = await issued_to(family, issuer, cipher, own.link_id)
    assert row.fetch_until is not None
    outcomes = await asyncio.gather(*(delivery.offer_again(family.sf, BOX, family.father, row.id, issuer.public_url,
                                                           today=TODAY, now=row.fetch_until) for _ in range(2)),
                                    return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["CertificateIssuance", "PortalError"]
    assert [o.code for o in outcomes if isinstance(o, PortalError)] == ["FETCH_LINK_STILL_VALID"]
    async with family.sf() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 2  # the issue's and one more


async def test_offer_certificate_again_over_graphql(portal_with_pki: Portal, issuer: CertificateIssuer,
                                                    cipher: IndividualNumberCipher) -> None:
    portal = portal_with_pki
    family = Family(portal.app.state.session_factory, portal.father, portal.mother, portal.child)
    own = await add_service(family, "mypost", "http://127.0.0.1:9/hook")
    row = await issued_to(family, issuer, cipher, own.link_id)
    node = base64.b64encode(f"Certificate:{row.id}".encode()).decode()
    mutation = "mutation($id: ID!) { offerCertificateAgain(id: $id) { state deliveryLinkUntil } }"
    early = await portal.query(mutation, {"id": node}, token=portal.father_token)
    assert early["errors"][0]["extensions"]["code"] == "FETCH_LINK_STILL_VALID"
    async with family.sf() as session, session.begin():
        await session.execute(update(CertificateIssuance).values(fetch_until=utcnow() - timedelta(seconds=1)))
    renewed = (await portal.query(mutation, {"id": node}, token=portal.father_token))["data"]["offerCertificateAgain"]
    async with family.sf() as session:
        until = (await session.get_one(CertificateIssuance, row.id)).fetch_until
    assert until is not None and renewed == {"state": "ISSUED", "deliveryLinkUntil": until.isoformat()}
