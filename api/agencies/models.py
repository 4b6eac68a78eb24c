"""Agencies and agency-specific codes: each agency knows a person only by its own random code."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class AgencyKind(enum.StrEnum):
    MINISTRY = "ministry"
    MUNICIPALITY = "municipality"
    INSURER = "insurer"
    PENSION = "pension"
    TAX = "tax"


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # A stable public handle such as "chiyoda-city"; the sort key of the agencies connection.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AgencyKind] = mapped_column(Enum(AgencyKind, native_enum=False, create_constraint=True,
                                                  length=20, values_callable=lambda e: [m.value for m in e]))
    municipality_code: Mapped[str | None] = mapped_column(String(6), ForeignKey("municipalities.code"))


class AgencyPersonCode(Base):
    """機関別符号: unique per agency, random, and unrelated across agencies."""

    __tablename__ = "agency_person_codes"
    __table_args__ = (UniqueConstraint("agency_id", "code"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"),
                                                 primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                 primary_key=True, index=True)
    code: Mapped[str] = mapped_column(String(32))


class AgencyCredential(Base):
    """An agency system's API key (agencies never use a person's token); stored only as a SHA-256 hash."""

    __tablename__ = "agency_credentials"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgencyClientCertificate(Base):
    """A TLS client certificate an agency's system presents on the agency API (mutual TLS), pinned by the
    SHA-256 of its DER encoding: in production the certificate must belong to the same agency as the API key."""

    __tablename__ = "agency_client_certificates"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
