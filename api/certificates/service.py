"""Certificates asked for in the app: by the person, a parent for a minor, or a proxy with the scope.

request → a payment order for the fee (the existing payments: the person pays it like any order) → collect:
once the order is paid the municipality's certificate is made, signed and put in the app's inbox with a notice
(which the notices worker also forwards to the person's private delivery services, by their signed webhooks);
on the DELIVERY channel the chosen service's webhook also offers the document, to be taken once
(api.certificates.delivery).
Every issuance is on the subject's record: the municipality, by name, read their register to certify it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.service import assign_code
from api.certificates import content, delivery
from api.certificates.issuing import CertificateIssuer, new_public_id, new_serial
from api.certificates.models import CertificateIssuance, CertificateKind, Channel, IssuanceState
from api.certificates.registers import CertificateOffice
from api.notices.service import publish_notice
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Municipality
from api.platform.access_records import record_operator_action
from api.platform.db import new_id, read_only_factory, utcnow
from api.platform.errors import PortalError
from api.platform.scopes import CERTIFICATES_REQUEST
from api.proxies.service import acting_for
from payments.models import OrderState, PaymentOrder
from payments.orders import NewOrder, create_order
from push.secrets import SecretBox

SessionFactory = async_sessionmaker[AsyncSession]
_KEY_LENGTH = range(1, 65)


@dataclass(frozen=True)
class CertificateRequest:
    subject_id: uuid.UUID
    kind: CertificateKind
    options: content.Options
    channel: Channel  # APP or DELIVERY
    request_key: str  # the client's idempotency key
    delivery_link_id: uuid.UUID | None = None  # DELIVERY: the requester's link to the chosen service


def _not_yours() -> PortalError:
    return PortalError("NOT_AUTHORIZED_FOR_PERSON", "You may not ask for certificates of this person.")


async def record_issuance(session: AsyncSession, row: CertificateIssuance, municipality: str, where: str) -> None:
    """The person's record: which certificate, for whom it was asked (basis), by which channel."""
    await record_operator_action(
        session, operator=f"{municipality}長（証明書交付）", subject_id=row.subject_person_id,
        purpose=f"certificate:{row.kind.value}:{row.channel.value}:{row.acting_basis}:{where}")


async def insert_issuance(session: AsyncSession, values: dict[str, object]) -> uuid.UUID | None:
    """The row, or None when this actor already used the key on this channel (the first statement: see
    api.notices.service on SQLite's write lock)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return await session.scalar(dialect.insert(CertificateIssuance).values(**values).on_conflict_do_nothing(
        index_elements=["actor_person_id", "channel", "request_key"]).returning(CertificateIssuance.id))


async def replay_issuance(session: AsyncSession, actor_id: uuid.UUID, channel: Channel, key: str,
                  same: dict[str, object]) -> CertificateIssuance:
    existing = await session.scalar(select(CertificateIssuance).where(
        CertificateIssuance.actor_person_id == actor_id, CertificateIssuance.channel == channel,
        CertificateIssuance.request_key == key))
    assert existing is not None
    if any(getattr(existing, name) != value for name, value in same.items()):
        raise PortalError("IDEMPOTENCY_KEY_REUSED", "This key was used for another request.")
    return existing


async def request_certificate(sf: SessionFactory, issuer: CertificateIssuer, actor_id: uuid.UUID,
                              new: CertificateRequest, *, today: date, now: datetime | None = None
                              ) -> CertificateIssuance:
    now = now or utcnow()
    if len(new.request_key) not in _KEY_LENGTH:
        raise PortalError("IDEMPOTENCY_KEY_INVALID", "The request key must have 1 to 64 characters.")
    if new.channel not in (Channel.APP, Channel.DELIVERY):
        raise PortalError("BAD_USER_INPUT", "Kiosks ask through the kiosk API.", extensions={"field": "channel"})
    options = new.options.check(new.kind)
    if options.individual_number and new.channel == Channel.DELIVERY:
        raise PortalError("INDIVIDUAL_NUMBER_NOT_DELIVERABLE", "A certificate showing the individual number is "
                          "never sent to a delivery service.", extensions={"field": "individualNumber"})
    if options.individual_number and (new.channel != Channel.APP or actor_id != new.subject_id):
        # Rendered on demand for the person alone: never for a proxy, never to a delivery service.
        raise PortalError("BAD_USER_INPUT", "The individual number is printed only on your own certificate "
                          "in the app.", extensions={"field": "individualNumber"})
    link_id = new.delivery_link_id if new.channel == Channel.DELIVERY else None
    same = {"kind": new.kind, "subject_person_id": new.subject_id, "options": options.to_json(),
            "delivery_link_id": link_id}
    async with sf() as session, session.begin():
        issuance_id = new_id()
        inserted = await insert_issuance(session, {
            "id": issuance_id, "public_id": new_public_id(), "serial": new_serial(today.year), "kind": new.kind,
            "municipality_code": None, "subject_person_id": new.subject_id, "actor_person_id": actor_id,
            "acting_basis": "pending", "channel": new.channel, "options": options.to_json(),
            "includes_individual_number": options.individual_number, "request_key": new.request_key,
            "state": IssuanceState.AWAITING_PAYMENT, "fee": 0, "requested_at": now, "delivery_link_id": link_id})
        if inserted is None:
            return await replay_issuance(session, actor_id, new.channel, new.request_key, same)
        service_id = None
        if new.channel == Channel.DELIVERY:
            service_id = (await delivery.chosen_link(session, actor_id, link_id))[1].id
        acting = await acting_for(session, actor_id, new.subject_id, CERTIFICATES_REQUEST, today=today,
                                  purpose=f"certificate:{new.kind.value}")
        if acting is None:
            raise _not_yours()
        source = await content.source_of(session, new.kind, new.subject_id, options)
        office = await session.get(CertificateOffice, source.municipality_code)
        if office is None or new.kind.value not in office.fees:
            raise PortalError("CERTIFICATE_NOT_AVAILABLE", "This municipality does not issue it online.")
        await issuer.ensure_signer(session, source.municipality_code)
        fee = office.fees[new.kind.value]
        code = await assign_code(session, office.agency_id, new.subject_id)
        order, _ = await create_order(session, office.agency_id, NewOrder(
            person_code=code, amount=fee, purpose=f"{content.TITLES[new.kind]} 交付手数料",
            due_date=today, payable_until=today + timedelta(days=7),
            agency_reference=f"certificate-{issuance_id.hex}"),
            idempotency_key=f"certificate-{issuance_id.hex}", today=today, now=now)
        # Its own statement: the municipality code and serial are unique together, and the row now has them.
        await session.execute(update(CertificateIssuance).where(CertificateIssuance.id == issuance_id).values(
            municipality_code=source.municipality_code, acting_basis=acting.basis.value, fee=fee,
            payment_order_id=order.id, delivery_service_id=service_id))
        row = await session.get_one(CertificateIssuance, issuance_id, populate_existing=True)
    return row


async def collect(sf: SessionFactory, issuer: CertificateIssuer, actor_id: uuid.UUID, issuance_id: uuid.UUID, *,
                  cipher: IndividualNumberCipher, today: date, now: datetime | None = None,
                  webhook_box: SecretBox | None = None) -> CertificateIssuance:
    """Issue a paid certificate (idempotent: an issued one is returned as it is). ``webhook_box`` seals the offer
    of a DELIVERY certificate on its webhook (api.notices.delivery_services.webhook_box)."""
    now = now or utcnow()
    # Reading the registers takes no write lock (SQLite): other certificates are issued meanwhile.
    async with read_only_factory(sf)() as session:
        row = await session.get(CertificateIssuance, issuance_id)
        if row is None or row.actor_person_id != actor_id or row.channel == Channel.KIOSK:
            raise PortalError("NOT_FOUND", "No such certificate request.")
        if row.state != IssuanceState.AWAITING_PAYMENT:
            return row
        paid = await session.scalar(select(PaymentOrder.state).where(PaymentOrder.id == row.payment_order_id))
        if paid != OrderState.PAID:
            raise PortalError("CERTIFICATE_NOT_PAID", "Pay the fee first (the request's payment order).")
        service_name = None
        if row.channel == Channel.DELIVERY:  # before the document is made: a removed link stops it here
            assert webhook_box is not None
            service_name = (await delivery.chosen_link(session, actor_id, row.delivery_link_id))[1].name
        # Loaded here once: the text's build finds them in this session, the issuing transaction reuses them.
        office = await session.get_one(CertificateOffice, row.municipality_code)
        municipality = await session.get_one(Municipality, row.municipality_code)
        # The row is not changed here: this read-only session must not flush (on SQLite a flush would hold the
        # write lock while the registers are read).
        text = await issuer.text(session, row, cipher=cipher, issued_at=now)
    # The number's document is drawn again each time the person opens it (document_for), never stored.
    produced = None if row.includes_individual_number else await issuer.produce(text, row.municipality_code)
    async with sf() as session, session.begin():
        issued = await session.scalar(update(CertificateIssuance).where(
            CertificateIssuance.id == issuance_id, CertificateIssuance.state == IssuanceState.AWAITING_PAYMENT)
            .values(state=IssuanceState.ISSUED, issued_at=now, document=produced.pdf if produced else None,
                    document_sha256=produced.sha256 if produced else None,
                    pages=produced.pages if produced else None).returning(CertificateIssuance))
        if issued is None:  # a concurrent collect won: its document is the one
            return await session.get_one(CertificateIssuance, issuance_id)
        row = issued
        await record_issuance(session, row, municipality.name, service_name or "app")
        where = f"{service_name}に送りました" if service_name else "アプリで受け取れます"
        # The requester by id: the municipality knows whom it issued to (no code to look up and back).
        published = await publish_notice(session, office.agency_id, delivery.certificate_notice(
            row, "を交付しました", f"{municipality.name}の証明書（証明書番号 {row.serial}）を{where}。",
            f"certificate-{row.id.hex}"), now=now, today=today, recipient_id=row.actor_person_id)
        row.notice_id = published.notice.id
        if row.channel == Channel.DELIVERY:
            assert webhook_box is not None
            await session.flush()
            await delivery.offer_document(session, webhook_box, row, municipality.name, issuer.public_url, now=now)
    return row


async def document_for(sf: SessionFactory, issuer: CertificateIssuer, actor_id: uuid.UUID, issuance_id: uuid.UUID,
                       *, cipher: IndividualNumberCipher) -> tuple[CertificateIssuance, bytes]:
    """The signed PDF for its requester; a document with the individual number is drawn now, for its person only."""
    async with sf() as session:
        row = await session.get(CertificateIssuance, issuance_id)
        if row is None or row.actor_person_id != actor_id or row.channel == Channel.KIOSK:
            raise PortalError("NOT_FOUND", "No such certificate.")
        if row.state not in (IssuanceState.ISSUED,):
            raise PortalError("CERTIFICATE_NOT_PAID" if row.state == IssuanceState.AWAITING_PAYMENT else "NOT_FOUND",
                              "This certificate has no document to open.")
        if not row.includes_individual_number:
            assert row.document is not None
            return row, row.document
        text = await issuer.text(session, row, cipher=cipher)
    produced = await issuer.produce(text, row.municipality_code)
    return row, produced.pdf


async def requests_of(sf: SessionFactory, actor_id: uuid.UUID, *, limit: int = 50) -> list[CertificateIssuance]:
    async with sf() as session:
        rows = await session.scalars(select(CertificateIssuance).where(
            CertificateIssuance.actor_person_id == actor_id, CertificateIssuance.channel != Channel.KIOSK)
            .order_by(CertificateIssuance.requested_at.desc(), CertificateIssuance.id).limit(limit))
        return list(rows)


@dataclass(frozen=True)
class Verification:
    """What the QR code's page tells anyone holding the paper (no personal data beyond what the paper shows)."""

    title: str
    issuer: str  # 千代田区長
    serial: str
    issued_at: datetime
    pages: int | None
    valid: bool
    void_reason: str | None
    document_sha256: str | None


async def verify(sf: SessionFactory, public_id: str) -> Verification | None:
    if not 10 <= len(public_id) <= 32:
        return None
    async with sf() as session:
        row = await session.scalar(select(CertificateIssuance).where(CertificateIssuance.public_id == public_id))
        if row is None or row.issued_at is None:
            return None
        municipality = await session.get_one(Municipality, row.municipality_code)
    return Verification(content.TITLES[row.kind], f"{municipality.name}長", row.serial, row.issued_at, row.pages,
                        row.state != IssuanceState.VOID, row.void_reason,
                        row.document_sha256.hex() if row.document_sha256 else None)


async def void(sf: SessionFactory, public_id: str, *, reason: str, now: datetime | None = None) -> bool:
    """The municipality revokes an issued certificate (a mistake found later): the QR page says so at once."""
    async with sf() as session, session.begin():
        done = await session.scalar(update(CertificateIssuance).where(
            CertificateIssuance.public_id == public_id, CertificateIssuance.state != IssuanceState.VOID)
            .values(state=IssuanceState.VOID, void_at=now or utcnow(), void_reason=reason[:100])
            .returning(CertificateIssuance.id))
    return done is not None
