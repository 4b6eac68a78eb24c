"""Tables of online applications: municipalities' offerings, applications (drafts to decisions), attachments
(their content in chunks outside the row), the application's history, municipal staff, idempotency keys and
the 公金受取口座.

The procedures themselves are versioned data (api/applications/data/procedures.json), not rows: an offering
names the procedure and the form version it publishes, and an application keeps the version it was typed in.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
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

# The application's states (受付 → 審査中 → 補正依頼 → 完了 / 却下); a draft is not yet sent.
DRAFT = "draft"
RECEIVED = "received"  # 受付
REVIEWING = "reviewing"  # 審査中
CORRECTION_REQUESTED = "correction_requested"  # 補正依頼
COMPLETED = "completed"  # 完了
REJECTED = "rejected"  # 却下
WITHDRAWN = "withdrawn"  # 取下げ: by the applicant, before a decision (a draft, or sent and not yet decided)
STATUSES = (DRAFT, RECEIVED, REVIEWING, CORRECTION_REQUESTED, COMPLETED, REJECTED, WITHDRAWN)
DECIDED = frozenset({COMPLETED, REJECTED})


class ProcedureOffering(Base):
    """A municipality publishes a national procedure: which form version, whether it needs the card's
    signature there, the fee, and until when (withdrawn_at)."""

    __tablename__ = "procedure_offerings"
    __table_args__ = (UniqueConstraint("municipality_code", "procedure_code"),
                      CheckConstraint("fee_yen >= 0", name="fee_not_negative"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"))
    procedure_code: Mapped[str] = mapped_column(String(64), index=True)
    form_version: Mapped[int] = mapped_column(Integer)
    signature_required: Mapped[bool] = mapped_column(Boolean)
    fee_yen: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        # The municipality's inbox: its applications by status, oldest first (keyset pages).
        Index("ix_applications_inbox", "municipality_code", "status", "submitted_at", "id"),
        Index("ix_applications_inbox_all", "municipality_code", "submitted_at", "id"),
        Index("ix_applications_applicant", "applicant_person_id", "updated_at"),
        CheckConstraint("status IN ('draft', 'received', 'reviewing', 'correction_requested', 'completed', "
                        "'rejected', 'withdrawn')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # 受付番号: given at the first submission, kept through corrections.
    reception_number: Mapped[str | None] = mapped_column(String(24), unique=True)
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"))
    procedure_code: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[int] = mapped_column(Integer)
    applicant_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    subject_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                         index=True)
    # How the applicant may act for the subject: self, parent (親権者), grant (代理人 with applications:write).
    basis: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(24), default=DRAFT)
    form: Mapped[dict] = mapped_column(JSON)
    # Which form fields came from where: {"income": {"source": "network", "item": "local_tax", "queryId": ...}}.
    prefill: Mapped[dict] = mapped_column(JSON)
    # The server's nonce for the next signature on this application (changes after each submission).
    nonce: Mapped[bytes] = mapped_column(LargeBinary(32))
    revision: Mapped[int] = mapped_column(Integer, default=0)  # each save; a stale save is refused
    signed_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    signed_document: Mapped[bytes | None] = mapped_column(LargeBinary)  # the canonical JSON that was signed
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(1024))
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary(8192))
    certificate_chain: Mapped[list | None] = mapped_column(JSON)  # base64 DER, as sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApplicationAttachment(Base):
    __tablename__ = "application_attachments"
    __table_args__ = (UniqueConstraint("application_id", "requirement"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("applications.id", ondelete="CASCADE"))
    requirement: Mapped[str] = mapped_column(String(64))  # the procedure's attachment code
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(50))  # as found in the content, not as declared
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttachmentChunk(Base):
    """An attachment's content, in chunks outside the application's rows, read back one chunk at a time."""

    __tablename__ = "application_attachment_chunks"

    attachment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("application_attachments.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ApplicationEvent(Base):
    """The application's history: each move, by whom (the person, a staff member, the municipality's system)."""

    __tablename__ = "application_events"
    __table_args__ = (Index("ix_application_events_application", "application_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("applications.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(150))  # "person", "staff:<name>", "system:<key label>"
    note: Mapped[str | None] = mapped_column(String(1000))


class MunicipalStaff(Base):
    """A municipal staff member's own account: a token (hash only) and a role (reader: read; decider: move)."""

    __tablename__ = "municipal_staff"
    __table_args__ = (CheckConstraint("role IN ('reader', 'decider')", name="role_known"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboxIdempotency(Base):
    """A move the municipality asked for with an Idempotency-Key: a retry gets the same answer, moves nothing."""

    __tablename__ = "application_idempotency"

    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"),
                                                 primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PublicBenefitAccount(Base):
    """公金受取口座: one account per person for public benefits."""

    __tablename__ = "public_benefit_accounts"
    __table_args__ = (CheckConstraint("account_kind IN ('ordinary', 'current', 'savings')", name="kind_known"),)

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                 primary_key=True)
    bank_code: Mapped[str] = mapped_column(String(4))
    branch_code: Mapped[str] = mapped_column(String(3))
    account_kind: Mapped[str] = mapped_column(String(10))
    account_number: Mapped[str] = mapped_column(String(7))
    holder_kana: Mapped[str] = mapped_column(String(100))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
