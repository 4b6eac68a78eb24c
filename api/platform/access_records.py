"""The person's access record: every read of a person's data by anyone else (actor, subject, purpose, time)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class AccessRecord(Base):
    __tablename__ = "access_records"
    __table_args__ = (Index("ix_access_records_subject_time", "subject_person_id", "accessed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Exactly one kind of actor today (a person acting for another); agencies come with the exchange service.
    actor_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    subject_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(100))
    accessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


async def record_access(
    session: AsyncSession, *, actor_id: uuid.UUID, subject_ids: Sequence[uuid.UUID], purpose: str
) -> None:
    # A person reading their own data is not an access by someone else.
    now = utcnow()
    rows = [
        {"id": new_id(), "actor_person_id": actor_id, "subject_person_id": subject, "purpose": purpose,
         "accessed_at": now}
        for subject in subject_ids
        if subject != actor_id
    ]
    if rows:
        await session.execute(insert(AccessRecord), rows)


async def access_records_for(session: AsyncSession, subject_id: uuid.UUID) -> list[AccessRecord]:
    rows = await session.scalars(
        select(AccessRecord).where(AccessRecord.subject_person_id == subject_id)
        .order_by(AccessRecord.accessed_at, AccessRecord.id)
    )
    return list(rows)
