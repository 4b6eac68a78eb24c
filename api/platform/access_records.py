"""The person's access record: every read of a person's data by anyone else (actor, subject, purpose, time).

The actor is another person (a proxy, a parent) or a named operator of the portal (the lost-card hotline)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class AccessRecord(Base):
    __tablename__ = "access_records"
    __table_args__ = (
        Index("ix_access_records_subject_time", "subject_person_id", "accessed_at"),
        CheckConstraint("(actor_person_id IS NULL) <> (actor_operator IS NULL)", name="one_actor"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Exactly one actor: a person acting for another, or an operator by name (agencies come with the exchange).
    actor_person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    actor_operator: Mapped[str | None] = mapped_column(String(100))
    subject_person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
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


async def record_operator_action(session: AsyncSession, *, operator: str, subject_id: uuid.UUID,
                                 purpose: str) -> None:
    """An operator acted on the person's record (e.g. revoked their card for them): the person sees who and why."""
    session.add(AccessRecord(actor_operator=operator[:100], subject_person_id=subject_id, purpose=purpose[:100],
                             accessed_at=utcnow()))
    await session.flush()


async def access_records_for(session: AsyncSession, subject_id: uuid.UUID) -> list[AccessRecord]:
    rows = await session.scalars(
        select(AccessRecord).where(AccessRecord.subject_person_id == subject_id)
        .order_by(AccessRecord.accessed_at, AccessRecord.id)
    )
    return list(rows)
