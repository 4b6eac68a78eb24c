"""Cards, the certificates issued for them and for phones, and smartphone credentials.

The authentication certificate carries no name: ``issued_certificates`` is the link from a certificate
(by the SHA-256 of its DER) to the person, made when the card or phone credential is issued.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, LargeBinary, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class CertificateProfile(enum.StrEnum):
    CARD_AUTH = "card-auth"
    CARD_SIGN = "card-sign"
    PHONE_AUTH = "phone-auth"
    PHONE_SIGN = "phone-sign"


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    return Enum(kind, native_enum=False, create_constraint=True, length=20, name=name,
                values_callable=lambda e: [m.value for m in e])


class Card(Base):
    """A My Number card's JPKI certificates as issued to one person (a re-issued card is a new row)."""

    __tablename__ = "cards"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PhoneCredential(Base):
    """スマホ用電子証明書: one phone key, two certificates, linked to the card that vouched for it."""

    __tablename__ = "phone_credentials"
    # One phone at a time: at most one unrevoked credential per person, enforced by the database.
    __table_args__ = (
        Index("uq_phone_credentials_active_person", "person_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    card_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cards.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IssuedCertificate(Base):
    __tablename__ = "issued_certificates"
    __table_args__ = (Index("uq_issued_certificates_issuer_serial", "issuer", "serial", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # SHA-256 of the DER
    issuer: Mapped[str] = mapped_column(String(40))  # the sandbox intermediate's short name
    serial: Mapped[str] = mapped_column(String(50))  # hex
    profile: Mapped[CertificateProfile] = mapped_column(_enum(CertificateProfile, "certificate_profile"))
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    card_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("cards.id", ondelete="CASCADE"), index=True)
    phone_credential_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("phone_credentials.id", ondelete="CASCADE"), index=True)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(30))


class CardLossReport(Base):
    """A card reported lost: by the person signed in, or by an operator of the hotline for them after an
    identity check (someone who lost both card and phone cannot sign in)."""

    __tablename__ = "card_loss_reports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    operator: Mapped[str | None] = mapped_column(String(100))  # NULL: the person reported it themselves
    identity_check: Mapped[str | None] = mapped_column(String(200))  # what the operator verified, and how
    certificates_revoked: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
