"""Application ids (アプリケーションID) of the public API: issued at once, stored only as a hash.

The NTA treats its id as a secret (its terms forbid disclosing it), and ours grants quota in a
business's name, so it is handled like a password-equivalent token: 13 random alphanumerics (the
NTA's length, so existing clients accept it), shown once, kept as SHA-256 (77 random bits need no
salt or slow hash), looked up by that hash.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.db import utcnow
from api.platform.revocations import RevocationCounter
from corporate.models import ApplicationId, ApplicationUsage

ALPHABET = string.ascii_letters + string.digits
LENGTH = 13
MAX_LABEL = 200


# Application-id revocations this process has committed: the API's cache of id lookups forgets at once
# (corporate.rest, api.platform.revocations).
REVOCATIONS = RevocationCounter()


class InvalidLabel(ValueError):
    """The label (who the id is for) is empty or too long."""


@dataclass(frozen=True)
class IssuedId:
    id: uuid.UUID
    application_id: str  # the secret, shown once
    label: str
    created_at: datetime


def hash_key(application_id: str) -> bytes:
    return hashlib.sha256(application_id.encode()).digest()


async def issue(session: AsyncSession, label: str, *, person_id: uuid.UUID | None = None,
                now: datetime | None = None) -> IssuedId:
    label = label.strip()
    if not label or len(label) > MAX_LABEL:
        raise InvalidLabel(f"the label must be 1 to {MAX_LABEL} characters")
    secret = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    row = ApplicationId(key_hash=hash_key(secret), hint=secret[:4], label=label, person_id=person_id,
                        created_at=now or utcnow())
    session.add(row)
    await session.flush()
    return IssuedId(id=row.id, application_id=secret, label=label, created_at=row.created_at)


async def resolve(session: AsyncSession, application_id: str) -> uuid.UUID | None:
    """The id's row id if it is issued and not revoked."""
    if len(application_id) != LENGTH or not application_id.isascii() or not application_id.isalnum():
        return None
    return await session.scalar(select(ApplicationId.id).where(
        ApplicationId.key_hash == hash_key(application_id), ApplicationId.revoked_at.is_(None)))


async def revoke(session: AsyncSession, application_id: str) -> bool:
    REVOCATIONS.note(session)
    result = await session.execute(
        update(ApplicationId).where(ApplicationId.key_hash == hash_key(application_id),
                                    ApplicationId.revoked_at.is_(None))
        .values(revoked_at=utcnow()).returning(ApplicationId.id))
    return result.first() is not None


async def add_usage(session: AsyncSession, counts: dict[uuid.UUID, int], day: date) -> None:
    """Add request counts atomically (INSERT ... ON CONFLICT DO UPDATE SET requests = requests + n)."""
    if not counts:
        return
    dialect = session.bind.dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ApplicationUsage).values(
        [{"application_id": key, "day": day, "requests": count} for key, count in sorted(counts.items())])
    await session.execute(statement.on_conflict_do_update(
        index_elements=["application_id", "day"],
        set_={"requests": ApplicationUsage.requests + statement.excluded.requests}))


@dataclass(frozen=True)
class Usage:
    label: str
    hint: str
    created_at: datetime
    revoked: bool
    total_requests: int
    by_day: list[tuple[date, int]]


async def usage_of(session: AsyncSession, row_id: uuid.UUID) -> Usage | None:
    found = await session.get(ApplicationId, row_id)
    if found is None:
        return None
    days = (await session.execute(
        select(ApplicationUsage.day, ApplicationUsage.requests)
        .where(ApplicationUsage.application_id == row_id).order_by(ApplicationUsage.day))).all()
    return Usage(label=found.label, hint=found.hint, created_at=found.created_at,
                 revoked=found.revoked_at is not None, total_requests=sum(count for _, count in days),
                 by_day=[(day, count) for day, count in days])


async def ids_of_person(session: AsyncSession, person_id: uuid.UUID) -> list[ApplicationId]:
    return list((await session.scalars(select(ApplicationId).where(ApplicationId.person_id == person_id)
                                       .order_by(ApplicationId.created_at))).all())


async def count_ids(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(ApplicationId)) or 0
