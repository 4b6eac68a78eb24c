"""Issued certificates, the kiosks of コンビニ交付 and their card sessions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


def _enum(kind: type[enum.Enum], length: int) -> Enum:
    return Enum(kind, native_enum=False, create_constraint=True, length=length,
                values_callable=lambda e: [m.value for m in e])


class CertificateKind(enum.StrEnum):
    RESIDENT_RECORD = "resident-record"  # 住民票の写し
    RESIDENT_RECORD_ITEMS = "resident-record-items"  # 住民票記載事項証明書
    SEAL = "seal"  # 印鑑登録証明書
    FAMILY_REGISTER_ALL = "family-register-all"  # 戸籍全部事項証明書 (謄本)
    FAMILY_REGISTER_PERSON = "family-register-person"  # 戸籍個人事項証明書 (抄本)
    TAX = "tax"  # 課税(所得)証明書


class Channel(enum.StrEnum):
    APP = "app"  # the app's inbox
    DELIVERY = "delivery"  # the person's private delivery service (民間送達), by its signed webhook
    KIOSK = "kiosk"  # a convenience-store kiosk (コンビニ交付)


class IssuanceState(enum.StrEnum):
    AWAITING_PAYMENT = "awaiting-payment"
    ISSUED = "issued"  # signed; in the inbox, sent to the delivery service, or waiting for its kiosk
    HANDED = "handed"  # the kiosk took the PDF (once)
    PRINTED = "printed"  # the kiosk confirmed the print
    VOID = "void"  # revoked by the municipality, or the kiosk's print failed (the paper must not exist)


class Kiosk(Base):
    """A registered kiosk terminal: its key, its store and the store's operator (the chain)."""

    __tablename__ = "kiosks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    terminal_id: Mapped[str] = mapped_column(String(40), unique=True)
    store_name: Mapped[str] = mapped_column(String(100))
    operator: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # SHA-256 of the kiosk key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KioskSession(Base):
    """One card at one kiosk: from the card's authentication until the card leaves (or the session idles out)."""

    __tablename__ = "kiosk_sessions"
    __table_args__ = (Index("ix_kiosk_sessions_kiosk_open", "kiosk_id", "ended_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kiosk_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("kiosks.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    login_session_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the identity session the card opened
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CertificateIssuance(Base):
    """One certificate: who asked for whom, which, by which channel; the signed PDF while it is to be handed out.

    A kiosk's PDF is kept only until that kiosk takes it; a document showing the individual number is never kept
    (``document`` stays NULL) and is rendered again, for the person alone, when they open it.
    """

    __tablename__ = "certificate_issuances"
    __table_args__ = (
        UniqueConstraint("actor_person_id", "channel", "request_key"),
        UniqueConstraint("municipality_code", "serial"),
        Index("ix_certificate_issuances_subject", "subject_person_id", "requested_at"),
        Index("ix_certificate_issuances_kiosk_session", "kiosk_session_id"),
        # A kiosk's certificate is its card holder's own, at that kiosk: the row says so, the database keeps it so.
        CheckConstraint("(channel = 'kiosk') = (kiosk_session_id IS NOT NULL)", name="kiosk_has_session"),
        CheckConstraint("channel <> 'kiosk' OR actor_person_id = subject_person_id", name="kiosk_self_only"),
        CheckConstraint("NOT (includes_individual_number AND document IS NOT NULL)", name="number_never_stored"),
        CheckConstraint("NOT (includes_individual_number AND channel <> 'app')", name="number_app_only"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # the QR's unguessable id
    serial: Mapped[str] = mapped_column(String(20))  # the municipality's serial number on the paper
    kind: Mapped[CertificateKind] = mapped_column(_enum(CertificateKind, 30))
    # The issuing municipality; NULL only inside the request's transaction, until its register is found.
    municipality_code: Mapped[str | None] = mapped_column(String(6), ForeignKey("municipalities.code"))
    subject_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    actor_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    acting_basis: Mapped[str] = mapped_column(String(20))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 10))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    includes_individual_number: Mapped[bool] = mapped_column(default=False)
    request_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[IssuanceState] = mapped_column(_enum(IssuanceState, 20))
    fee: Mapped[int] = mapped_column(Integer)
    payment_order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("payment_orders.id"))
    kiosk_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("kiosk_sessions.id"))
    kiosk_receipt: Mapped[str | None] = mapped_column(String(64))
    # DELIVERY: the requester's link to the chosen service, the service (the one that may fetch), and the one-time
    # fetch link's token (its SHA-256) and end; the document leaves the server when the service takes it.
    delivery_link_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    delivery_service_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    fetch_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    fetch_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    document: Mapped[bytes | None] = mapped_column(LargeBinary)
    document_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    pages: Mapped[int | None] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    printed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    void_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(String(100))
