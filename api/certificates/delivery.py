"""Certificates delivered to the requester's private delivery service (民間送達): offered by its signed webhook,
taken by the service once.

The webhook (the certificate's notice, forwarded by the notices worker under the notices' retry ladder) carries the
certificate's metadata and a one-time fetch link, not the PDF: a retried webhook then repeats a link, not a personal
document, into the receiver's queues and logs; a signed PDF with its fonts is 40-90 KB (a household's several pages
more), above what many webhook gateways accept; and the server learns when the service took it. The link is
unguessable (256 random bits; only its SHA-256 is stored), valid while the webhook may still be retried
(``FETCH_TTL``) and works once, for the service that was chosen, with that service's own fetch key. Taking it is one
conditional UPDATE (as the kiosk's take-once): the server keeps no copy afterwards, and the take is on the person's
record with the service as actor. A document showing the individual number is never offered (refused at request
time; the ``number_app_only`` constraint holds it in the database too).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.certificates import content
from api.certificates.models import CertificateIssuance, Channel, IssuanceState
from api.certificates.registers import CertificateOffice
from api.notices.delivery_services import offer_to_link, service_for_fetch_key, withdraw_offer
from api.notices.models import Audience, Category, DeliveryService, DeliveryServiceLink
from api.notices.outbox import WEBHOOK_RETRY_LADDER
from api.notices.service import AttachmentSpec, NewNotice, publish_notice
from api.people.models import Municipality
from api.platform.access_records import record_operator_action
from api.platform.auth import hash_token
from api.platform.db import utcnow
from api.platform.errors import PortalError
from push.secrets import SecretBox

# Every attempt of the webhook's retry ladder (the last ~3 days after the first) must still carry a link that works:
# an expired one would leave a service that was down for a day with a notice it can never act on. The link stays
# harmless meanwhile: it works once, only with the chosen service's own fetch key.
FETCH_TTL = sum(WEBHOOK_RETRY_LADDER, timedelta()) + timedelta(hours=1)
EVENT = "certificate.issued"
ATTACHMENT_KIND = "certificate"


def new_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def certificate_notice(row: CertificateIssuance, title_rest: str, body: str, reference: str) -> NewNotice:
    """The requester's notice of a certificate, with the certificate attached (the title begins with its name)."""
    title = content.TITLES[row.kind]
    return NewNotice(audience=Audience.PERSON, category=Category.GENERAL, title=f"{title}{title_rest}", body=body,
                     reference=reference, attachments=(AttachmentSpec(ATTACHMENT_KIND, str(row.id), title),))


def fetch_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/delivery/v1/documents/{token}"


async def chosen_link(session: AsyncSession, actor_id: uuid.UUID, link_id: uuid.UUID | None
                      ) -> tuple[DeliveryServiceLink, DeliveryService]:
    """The requester's own link to the service they chose (a link of anyone else is no link)."""
    if link_id is None:
        raise PortalError("BAD_USER_INPUT", "Choose one of your delivery services for this channel.",
                          extensions={"field": "deliveryServiceLinkId"})
    found = (await session.execute(select(DeliveryServiceLink, DeliveryService).join(
        DeliveryService, DeliveryService.id == DeliveryServiceLink.service_id).where(
        DeliveryServiceLink.id == link_id, DeliveryServiceLink.person_id == actor_id))).first()
    if found is None:
        raise PortalError("DELIVERY_SERVICE_NOT_LINKED", "You have no link to this delivery service (any more).",
                          extensions={"field": "deliveryServiceLinkId"})
    return found[0], found[1]


def offer(row: CertificateIssuance, municipality: str, url: str, until: datetime) -> dict[str, object]:
    """What the chosen service's webhook adds to the notice: the certificate and where to take it, once."""
    assert row.document_sha256 is not None and row.issued_at is not None
    return {"certificate": {
        "type": EVENT, "id": str(row.id), "kind": row.kind.value, "title": content.TITLES[row.kind],
        "issuer": f"{municipality}長", "serial": row.serial, "issued_at": row.issued_at.isoformat(),
        "pages": row.pages, "content_type": "application/pdf", "sha256": row.document_sha256.hex(),
        "fetch": {"url": url, "method": "POST", "expires_at": until.isoformat(), "once": True}}}


async def offer_document(session: AsyncSession, box: SecretBox, row: CertificateIssuance, municipality: str,
                         public_url: str, *, now: datetime) -> None:
    """In the issuing transaction, after its notice was published: the token, and the offer on the chosen link's
    webhook job (one notice, one job: a retried collect or webhook offers the same document, never a second)."""
    assert row.notice_id is not None and row.delivery_link_id is not None
    token, hashed = new_token()
    until = now + FETCH_TTL
    row.fetch_token_hash, row.fetch_until = hashed, until
    if not await offer_to_link(session, box, row.notice_id, row.delivery_link_id,
                               offer(row, municipality, fetch_url(public_url, token), until)):
        raise PortalError("DELIVERY_SERVICE_NOT_LINKED", "You have no link to this delivery service (any more).")


@dataclass(frozen=True)
class Fetched:
    pdf: bytes
    filename: str
    sha256: str


async def take(sf: async_sessionmaker[AsyncSession], service_key: str, token: str, *,
               now: datetime | None = None) -> Fetched:
    """The PDF, once, to the service it was offered to; the server keeps no copy afterwards."""
    now = now or utcnow()
    hashed = hash_token(token) if 20 <= len(token) <= 100 else b""
    async with sf() as session, session.begin():
        service = await service_for_fetch_key(session, service_key)
        if service is None:
            raise PortalError("UNAUTHENTICATED", "Send the delivery service's fetch key as a bearer token.")
        handed = await session.scalar(update(CertificateIssuance).where(
            CertificateIssuance.fetch_token_hash == hashed, CertificateIssuance.channel == Channel.DELIVERY,
            CertificateIssuance.delivery_service_id == service.id, CertificateIssuance.state == IssuanceState.ISSUED,
            CertificateIssuance.fetch_until > now).values(state=IssuanceState.HANDED, handed_at=now)
            .returning(CertificateIssuance.id))
        if handed is None:
            row = await session.scalar(select(CertificateIssuance).where(
                CertificateIssuance.fetch_token_hash == hashed, CertificateIssuance.delivery_service_id == service.id))
            # Another service's link, or none: the same answer (nothing to learn from a guess).
            if row is None or row.state in (IssuanceState.VOID, IssuanceState.AWAITING_PAYMENT):
                raise PortalError("NOT_FOUND", "No document is offered to this service at this link.")
            if row.state != IssuanceState.ISSUED:
                raise PortalError("DOCUMENT_ALREADY_HANDED", "This document was already taken.")
            raise PortalError("FETCH_LINK_EXPIRED", "This link has expired; the person can still open the "
                              "certificate in the app.")
        row = await session.get_one(CertificateIssuance, handed)
        document, digest = row.document, row.document_sha256
        assert document is not None and digest is not None and row.notice_id is not None
        await session.execute(update(CertificateIssuance).where(CertificateIssuance.id == handed)
                              .values(document=None).execution_options(synchronize_session=False))
        if row.delivery_link_id is not None:
            await withdraw_offer(session, row.notice_id, row.delivery_link_id)
        await record_operator_action(session, operator=f"{service.name}（民間送達）", subject_id=row.subject_person_id,
                                     purpose=f"certificate-delivery:{row.kind.value}:{row.serial}")
    return Fetched(document, f"{row.kind.value}-{row.serial}.pdf", digest.hex())


async def offer_again(sf: async_sessionmaker[AsyncSession], box: SecretBox, actor_id: uuid.UUID,
                      issuance_id: uuid.UUID, public_url: str, *, today: date,
                      now: datetime | None = None) -> CertificateIssuance:
    """A new link for a delivered certificate whose link ran out untaken (the service was down past every retry, or
    lost the webhook). It comes with a new notice, so its webhook has a new message id: the service's replay guard
    would drop a repeat of the old one. The old offer is withdrawn; the old link stays dead."""
    now = now or utcnow()
    async with sf() as session, session.begin():
        # Claimed by a conditional write first: of two at once, one offers again and the other is told why not.
        claimed = await session.scalar(update(CertificateIssuance).where(
            CertificateIssuance.id == issuance_id, CertificateIssuance.actor_person_id == actor_id,
            CertificateIssuance.channel == Channel.DELIVERY, CertificateIssuance.state == IssuanceState.ISSUED,
            CertificateIssuance.fetch_until <= now).values(fetch_until=now + FETCH_TTL)
            .returning(CertificateIssuance.id))
        if claimed is None:
            row = await session.get(CertificateIssuance, issuance_id)
            if row is None or row.actor_person_id != actor_id or row.channel != Channel.DELIVERY:
                raise PortalError("NOT_FOUND", "No such delivered certificate.")
            if row.state == IssuanceState.HANDED:
                raise PortalError("DOCUMENT_ALREADY_HANDED", "The delivery service already took this document.")
            if row.state != IssuanceState.ISSUED:
                raise PortalError("CERTIFICATE_NOT_PAID", "Pay the fee and collect the certificate first.")
            raise PortalError("FETCH_LINK_STILL_VALID", "The delivery service's link still works.",
                              extensions={"until": row.fetch_until.isoformat() if row.fetch_until else None})
        row = await session.get_one(CertificateIssuance, claimed)
        link, service = await chosen_link(session, actor_id, row.delivery_link_id)
        office = await session.get_one(CertificateOffice, row.municipality_code)
        municipality = await session.get_one(Municipality, row.municipality_code)
        if row.notice_id is not None:
            await withdraw_offer(session, row.notice_id, link.id)
        published = await publish_notice(session, office.agency_id, certificate_notice(
            row, f"を{service.name}にもう一度送りました",
            f"{municipality.name}の証明書（証明書番号 {row.serial}）の受け取りリンクを新しくしました。",
            f"certificate-{row.id.hex}-again-{now.strftime('%Y%m%d%H%M%S')}"), now=now, today=today,
            recipient_id=actor_id)
        row.notice_id = published.notice.id
        await session.flush()
        await offer_document(session, box, row, municipality.name, public_url, now=now)
    return row
