"""Login state: single-use challenges, rotating refresh tokens, device grants, rate-limit counters."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.identity import pki_models  # noqa: F401 - the table certificate_id points at
from api.platform.db import Base, UTCDateTime, new_id, utcnow


class LoginChallenge(Base):
    __tablename__ = "login_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(32))
    client_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    client: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The family's certificate (api.identity.models.SessionToken.certificate_id); refresh re-checks it.
    certificate_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("issued_certificates.id", ondelete="CASCADE"), index=True)


class DeviceGrantStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CONSUMED = "consumed"  # the device got its tokens


class DeviceAuthorization(Base):
    """RFC 8628: a TV's pending sign-in, approved or denied on the person's phone."""

    __tablename__ = "device_authorizations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    device_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_code: Mapped[str] = mapped_column(String(9), unique=True)
    client_id: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(500))
    status: Mapped[DeviceGrantStatus] = mapped_column(
        Enum(DeviceGrantStatus, native_enum=False, create_constraint=True, length=10, name="device_grant_status",
             values_callable=lambda e: [m.value for m in e]),
        default=DeviceGrantStatus.PENDING)
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The approving session's certificate, which the TV's session inherits.
    certificate_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("issued_certificates.id", ondelete="CASCADE"), index=True)
    # Who asked (RFC 8628 §5.4, remote phishing): shown in the app before the person approves.
    requester_address: Mapped[str | None] = mapped_column(String(45))
    requester_agent: Mapped[str | None] = mapped_column(String(200))

