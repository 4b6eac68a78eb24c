"""Recording reads of a person's data by someone else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.models import AccessRecord
from api.db import new_id, utcnow


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
