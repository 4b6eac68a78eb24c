"""Access records: actor, subject, purpose, time."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, UTCDateTime, new_id, utcnow


class AccessRecord(Base):
    __tablename__ = "access_records"
    __table_args__ = (Index("ix_access_records_subject_time", "subject_person_id", "accessed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Exactly one kind of actor today (a person acting for another); agencies come with the exchange service.
    actor_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    subject_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(100))
    accessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
