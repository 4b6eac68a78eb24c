"""GraphQL for certificates (住民票の写し and the rest): ask for one (for oneself, a minor child, or a principal who
granted certificates:request), pay its fee with the existing payment mutations (paymentStart on its order), collect
it, open the signed PDF (api.certificates.service)."""

from __future__ import annotations

import base64
import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry import relay

from api.certificates import content, delivery, service
from api.certificates.issuing import CertificateIssuer, LazyIssuer
from api.certificates.models import CertificateIssuance, CertificateKind, Channel, IssuanceState
from api.notices.delivery_services import webhook_box
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import CERTIFICATES_REQUEST
from api.schema.context import Info
from api.schema.notices import node_uuid

if TYPE_CHECKING:
    from push.secrets import SecretBox

CertificateKindType = strawberry.enum(CertificateKind, name="CertificateKind",
                                      description="住民票の写し, 記載事項証明書, 印鑑登録証明書, 戸籍, 課税証明書.")
CertificateStateType = strawberry.enum(IssuanceState, name="CertificateState")


@strawberry.enum(name="CertificateChannel")
class CertificateChannel(enum.Enum):
    APP = "app"  # the app's inbox (a notice, forwarded to the person's private delivery services)
    DELIVERY = "delivery"  # the chosen delivery service takes the PDF once (deliveryServiceLinkId)


@strawberry.type(name="Certificate", description="A certificate asked for in the app, from its request to its issue.")
class CertificateType:
    id: relay.GlobalID
    kind: CertificateKindType  # type: ignore[valid-type]
    state: CertificateStateType  # type: ignore[valid-type]
    channel: CertificateChannel
    fee: int = strawberry.field(description="Yen.")
    serial: str
    requested_at: datetime
    issued_at: datetime | None
    payment_order_id: relay.GlobalID | None = strawberry.field(
        description="The fee's payment order: pay it with paymentStart, then collectCertificate.")
    verification_url: str | None = strawberry.field(description="Where the QR code leads (once issued).")
    delivery_link_until: datetime | None = strawberry.field(
        description="DELIVERY, issued and not yet taken: until when the service's link works; after it, "
                    "offerCertificateAgain.")

    @classmethod
    def from_model(cls, row: CertificateIssuance, issuer: CertificateIssuer) -> CertificateType:
        issued = row.state != IssuanceState.AWAITING_PAYMENT
        return cls(id=relay.GlobalID("Certificate", str(row.id)), kind=row.kind, state=row.state,
                   channel=CertificateChannel(row.channel.value), fee=row.fee,
                   serial=row.serial, requested_at=row.requested_at, issued_at=row.issued_at if issued else None,
                   payment_order_id=relay.GlobalID("PaymentOrder", str(row.payment_order_id))
                   if row.payment_order_id else None,
                   verification_url=issuer.verification_url(row.public_id) if issued else None,
                   delivery_link_until=row.fetch_until if row.state == IssuanceState.ISSUED else None)


@strawberry.type(name="CertificateDocument", description="The signed PDF (PAdES, with a document timestamp).")
class CertificateDocumentType:
    filename: str
    content_type: str
    base64: str


@strawberry.input(name="CertificateRequestInput")
class CertificateRequestInput:
    kind: CertificateKindType  # type: ignore[valid-type]
    idempotency_key: str = strawberry.field(description="1-64 characters: a retry with it answers the same request.")
    person_id: relay.GlobalID | None = strawberry.field(default=None, description="Whose; default the viewer.")
    channel: CertificateChannel = CertificateChannel.APP
    delivery_service_link_id: strawberry.ID | None = strawberry.field(
        default=None, description="DELIVERY: your delivery service link (deliveryServiceLink's id) that takes the PDF "
                                  "once; never for a certificate showing the individual number.")
    household: bool = strawberry.field(default=False, description="世帯全員 (住民票).")
    honseki: bool = strawberry.field(default=False, description="本籍・筆頭者 (住民票).")
    relationship: bool = strawberry.field(default=True, description="世帯主・続柄 (住民票).")
    individual_number: bool = strawberry.field(default=False, description="個人番号: your own 住民票 in the app only; "
                                                                          "drawn each time you open it, never stored.")
    tax_year: int | None = None


def _issuer(info: Info) -> CertificateIssuer:
    holder = info.context.certificate_issuer or LazyIssuer(info.context.settings)
    return holder.get()


def _webhook_box(info: Info) -> SecretBox:
    """What seals and opens the delivery services' webhook secrets (the data key and its predecessors)."""
    settings = info.context.settings
    return webhook_box(settings.data_key, settings.previous_data_keys)


def _id(node: relay.GlobalID) -> uuid.UUID:
    if node.type_name != "Certificate":
        raise PortalError(ErrorCode.NOT_FOUND, "No such certificate.")
    try:
        return uuid.UUID(node.node_id)
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, "No such certificate.") from error


@strawberry.type
class CertificatesQuery:
    @strawberry.field(description="The certificates the viewer asked for (for anyone), newest first.")
    async def certificate_requests(self, info: Info) -> list[CertificateType]:
        principal = info.context.require_person(CERTIFICATES_REQUEST)
        rows = await service.requests_of(info.context.read_session_factory, principal.person_id)
        issuer = _issuer(info)
        return [CertificateType.from_model(row, issuer) for row in rows]

    @strawberry.field(description="An issued certificate's signed PDF (its requester only).")
    async def certificate_document(self, info: Info, id: relay.GlobalID) -> CertificateDocumentType:
        principal = info.context.require_person(CERTIFICATES_REQUEST)
        row, pdf = await service.document_for(info.context.session_factory, _issuer(info), principal.person_id,
                                              _id(id), cipher=info.context.cipher)
        return CertificateDocumentType(filename=f"{row.kind.value}-{row.serial}.pdf", content_type="application/pdf",
                                       base64=base64.b64encode(pdf).decode())


@strawberry.type
class CertificatesMutation:
    @strawberry.mutation(description="Ask for a certificate; its fee becomes a payment order (paymentOrderId).")
    async def request_certificate(self, info: Info, input: CertificateRequestInput) -> CertificateType:
        principal = info.context.require_person(CERTIFICATES_REQUEST)
        subject = principal.person_id if input.person_id is None else node_uuid(input.person_id, "Person")
        options = content.Options(household=input.household, honseki=input.honseki,
                                  relationship=input.relationship, individual_number=input.individual_number,
                                  tax_year=input.tax_year)
        issuer = _issuer(info)
        link_id = None
        if input.delivery_service_link_id is not None:
            try:
                link_id = uuid.UUID(str(input.delivery_service_link_id))
            except ValueError as error:
                raise PortalError(ErrorCode.DELIVERY_SERVICE_NOT_LINKED, "You have no such delivery service link.",
                                  extensions={"field": "deliveryServiceLinkId"}) from error
        row = await service.request_certificate(info.context.session_factory, issuer, principal.person_id,
                                                service.CertificateRequest(subject, CertificateKind(input.kind),
                                                                           options, Channel(input.channel.value),
                                                                           input.idempotency_key, link_id),
                                                today=info.context.today())
        return CertificateType.from_model(row, issuer)

    @strawberry.mutation(description="Once its fee is paid: the certificate is issued, signed and put in the inbox "
                                     "(DELIVERY: offered to the chosen delivery service by its signed webhook).")
    async def collect_certificate(self, info: Info, id: relay.GlobalID) -> CertificateType:
        principal = info.context.require_person(CERTIFICATES_REQUEST)
        issuer = _issuer(info)
        row = await service.collect(info.context.session_factory, issuer, principal.person_id, _id(id),
                                    cipher=info.context.cipher, today=info.context.today(),
                                    webhook_box=_webhook_box(info))
        return CertificateType.from_model(row, issuer)

    @strawberry.mutation(description="DELIVERY, once the delivery service's link ran out untaken: a new link, sent "
                                     "with a new notice by the service's signed webhook; the old link stays dead.")
    async def offer_certificate_again(self, info: Info, id: relay.GlobalID) -> CertificateType:
        principal = info.context.require_person(CERTIFICATES_REQUEST)
        issuer = _issuer(info)
        row = await delivery.offer_again(info.context.session_factory, _webhook_box(info), principal.person_id,
                                         _id(id), issuer.public_url, today=info.context.today())
        return CertificateType.from_model(row, issuer)

