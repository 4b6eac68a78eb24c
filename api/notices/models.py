"""Tables of notices: the notice, its recipients (each person's inbox item), attachments, the delivery
outbox, procedures with their reminders, and private delivery services (民間送達サービス)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite makes only INTEGER PRIMARY KEY an autoincrementing rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _enum(kind: type[enum.Enum], length: int) -> Enum:
    return Enum(kind, native_enum=False, create_constraint=True, length=length,
                values_callable=lambda e: [m.value for m in e])


class Category(enum.StrEnum):
    TAX = "tax"
    PENSION = "pension"
    CHILD_REARING = "child-rearing"
    HEALTH = "health"
    WELFARE = "welfare"
    DISASTER = "disaster"
    GENERAL = "general"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class Audience(enum.StrEnum):
    PERSON = "person"
    SEGMENT = "segment"
    EVERYONE = "everyone"


class DeliveryState(enum.StrEnum):
    """GOV.UK Notify's split: in flight (pending, sending) and completed (the rest)."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"  # the push service or delivery service accepted it (201/2xx)
    TEMPORARY_FAILURE = "temporary-failure"  # retries exhausted
    PERMANENT_FAILURE = "permanent-failure"  # the subscription or destination is gone
    TECHNICAL_FAILURE = "technical-failure"  # our fault (a request the receiver rejects as malformed)
    EXPIRED = "expired"  # the notice expired before it could be sent


class Channel(enum.StrEnum):
    WEBPUSH = "webpush"
    WEBHOOK = "webhook"


class Notice(Base):
    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("agency_id", "reference"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    # The agency's own id for the notice: a retried publish with the same reference is not a second notice.
    reference: Mapped[str | None] = mapped_column(String(100))
    audience: Mapped[Audience] = mapped_column(_enum(Audience, 10))
    # Segment criteria (api.notices.segments.Segment as a dict); null for one person or everyone.
    segment: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    category: Mapped[Category] = mapped_column(_enum(Category, 20))
    priority: Mapped[Priority] = mapped_column(_enum(Priority, 10))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    action_url: Mapped[str | None] = mapped_column(String(500))
    publish_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    procedure_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("procedures.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NoticeRecipient(Base):
    """One person's copy of a notice: their inbox item with its read and archived marks."""

    __tablename__ = "notice_recipients"
    __table_args__ = (
        # The inbox query: newest first for one person.
        Index("ix_notice_recipients_inbox", "person_id", "publish_at", "notice_id"),
    )

    notice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    # Copied from the notice so the inbox is one index range scan.
    publish_at: Mapped[datetime] = mapped_column(UTCDateTime)
    category: Mapped[Category] = mapped_column(_enum(Category, 20))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NoticeAttachment(Base):
    """Something that rides on a notice: a document, a payment slip, ... (kind + the owning domain's id)."""

    __tablename__ = "notice_attachments"
    __table_args__ = (UniqueConstraint("notice_id", "kind", "reference"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    notice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200))


class NoticeDelivery(Base):
    """The outbox: one row per notice and device (Web Push) or per notice and linked delivery service.

    Written in the transaction that publishes the notice; workers claim rows with a lease.
    """

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "channel", "target_id"),
        Index("ix_notice_deliveries_claimable", "state", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("notices.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, 10))
    # A push subscription or a delivery-service link; no foreign key, so the status outlives a deleted device.
    target_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState, 20), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Members added to this one webhook's data (a document offered to this service alone), sealed at rest;
    # the same on every retry, cleared once the service took what it offers.
    payload_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)


class Procedure(Base):
    """A procedure with a deadline (e.g. 児童手当の現況届); reminders go to those who have not done it."""

    __tablename__ = "procedures"
    __table_args__ = (UniqueConstraint("agency_id", "slug"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(_enum(Category, 20))
    deadline: Mapped[date] = mapped_column(Date)
    # Days before the deadline, space-separated, e.g. "30 7 1".
    reminder_offsets: Mapped[str] = mapped_column(String(100))
    segment: Mapped[dict[str, Any]] = mapped_column(JSONType)
    action_url: Mapped[str | None] = mapped_column(String(500))


class ProcedureCompletion(Base):
    __tablename__ = "procedure_completions"

    procedure_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("procedures.id", ondelete="CASCADE"),
                                                    primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderRun(Base):
    """A reminder offset that has fired: the primary key makes each fire at most once, across workers."""

    __tablename__ = "reminder_runs"

    procedure_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("procedures.id", ondelete="CASCADE"),
                                                    primary_key=True)
    offset_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("notices.id", ondelete="SET NULL"))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryService(Base):
    """A private delivery service (民間送達サービス) registered by the operator, with its webhook secret."""

    __tablename__ = "delivery_services"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    webhook_url: Mapped[str] = mapped_column(String(500))
    # The Standard Webhooks secret, encrypted with a key derived from the data key.
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # During a secret rotation: the previous secret, which still signs (beside the new one) until this time.
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of the service's fetch key: what it sends to take a document it was offered (api.certificates).
    fetch_key_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)


class DeliveryServiceLink(Base):
    """A person's account at a delivery service; notices are forwarded to it under that account."""

    __tablename__ = "delivery_service_links"
    __table_args__ = (UniqueConstraint("person_id", "service_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("delivery_services.id", ondelete="CASCADE"),
                                                  index=True)
    account_reference: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NoticeExpansion(Base):
    """A notice to a segment (or everyone) being expanded into recipients and delivery jobs, chunk by chunk.

    ``after_person_id`` is the cursor: every person of the segment up to it has been written, in the same
    transaction that moved it, so an expansion killed at any moment resumes where its last chunk committed
    (and the recipients' primary key refuses a second copy anyway).
    """

    __tablename__ = "notice_expansions"
    __table_args__ = (Index("ix_notice_expansions_pending", "finished_at"),)

    notice_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True)
    segment_day: Mapped[date] = mapped_column(Date)  # ages are as of the publishing day, for every chunk
    after_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    expanded: Mapped[int] = mapped_column(Integer)
    chunks: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
