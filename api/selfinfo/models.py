"""Tables of 自己情報: the person's exports and their correction requests."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class SelfInfoExport(Base):
    """One JSON document of everything held about the person and their record, as it was when made."""

    __tablename__ = "selfinfo_exports"
    __table_args__ = (Index("ix_selfinfo_exports_person_created", "person_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    # Who asked for it: the person, a parent or a proxy.
    requested_by_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)


class CorrectionStatus(enum.StrEnum):
    OPEN = "open"
    CORRECTED = "corrected"
    REJECTED = "rejected"


class CorrectionRequest(Base):
    """訂正請求: the person asks the providing agency to correct an item it holds; the agency answers."""

    __tablename__ = "correction_requests"
    __table_args__ = (
        Index("ix_correction_requests_person_created", "person_id", "created_at"),
        Index("ix_correction_requests_queue", "provider_agency_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    requested_by_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    provider_agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"))
    item_name: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[CorrectionStatus] = mapped_column(
        Enum(CorrectionStatus, native_enum=False, create_constraint=True, length=20,
             values_callable=lambda e: [m.value for m in e]), default=CorrectionStatus.OPEN)
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
