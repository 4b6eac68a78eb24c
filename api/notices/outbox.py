"""Claiming and finishing delivery jobs: the same conditional SQL on SQLite and PostgreSQL.

A claim is ``UPDATE … WHERE id IN (SELECT … claimable … LIMIT n) RETURNING``: it sets the job to
``sending`` under a lease (claimed_by, lease_until). On PostgreSQL the subselect adds ``FOR UPDATE SKIP
LOCKED`` so concurrent workers take different rows without waiting; on SQLite the single writer makes
the statement atomic anyway. A job whose lease ran out (its worker died) is claimable again.

Finishing is conditional on still holding the lease (``claimed_by`` and ``state='sending'``): a worker
whose lease was taken over cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.notices.models import Channel, DeliveryState, NoticeDelivery

# Standard Webhooks receivers and GOV.UK Pay's ladder: 60 s, 5 min, 1 h, 1 day, 2 days, then give up.
WEBHOOK_RETRY_LADDER = (timedelta(seconds=60), timedelta(minutes=5), timedelta(hours=1), timedelta(days=1),
                        timedelta(days=2))
PUSH_BACKOFF_BASE = timedelta(seconds=5)
PUSH_BACKOFF_MAX = timedelta(hours=1)
PUSH_MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Job:
    id: int
    notice_id: uuid.UUID
    channel: Channel
    target_id: uuid.UUID
    person_id: uuid.UUID
    attempts: int  # including this one


@dataclass(frozen=True)
class Outcome:
    """What happened to one job, to be written back in a batch."""

    job_id: int
    state: DeliveryState  # DELIVERED, PENDING (retry), or a final failure
    status_code: int | None = None
    error: str | None = None
    retry_at: datetime | None = None
    unsent: bool = False  # handed back without being sent: the claim's attempt is not counted


@dataclass(frozen=True)
class SendResult:
    """What one send came to (Web Push or a delivery service's webhook), before retries are decided."""

    state: DeliveryState  # DELIVERED, PENDING (retry), PERMANENT_FAILURE, TECHNICAL_FAILURE
    status_code: int | None
    retry_after: timedelta | None = None  # what the receiver asked for
    error: str | None = None
    subscription_gone: bool = False


async def claim_jobs(
    session: AsyncSession, worker_id: str, *, limit: int, lease: timedelta, now: datetime,
    channels: tuple[Channel, ...] = (Channel.WEBPUSH, Channel.WEBHOOK),
) -> list[Job]:
    claimable = or_(
        and_(NoticeDelivery.state == DeliveryState.PENDING, NoticeDelivery.available_at <= now),
        and_(NoticeDelivery.state == DeliveryState.SENDING, NoticeDelivery.lease_until < now),
    )
    candidates = (select(NoticeDelivery.id).where(claimable, NoticeDelivery.channel.in_(channels))
                  .order_by(NoticeDelivery.available_at, NoticeDelivery.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    # A materialized CTE runs once: as a plain IN-subquery PostgreSQL may re-run it per row, and with
    # SKIP LOCKED each run can pick other rows, so a worker could take more than ``limit``.
    chosen = candidates.cte("claimable_jobs").prefix_with("MATERIALIZED")
    rows = await session.execute(
        update(NoticeDelivery)
        .where(NoticeDelivery.id.in_(select(chosen.c.id)), claimable)
        .values(state=DeliveryState.SENDING, claimed_by=worker_id, lease_until=now + lease,
                attempts=NoticeDelivery.attempts + 1, updated_at=now)
        .returning(NoticeDelivery.id, NoticeDelivery.notice_id, NoticeDelivery.channel, NoticeDelivery.target_id,
                   NoticeDelivery.person_id, NoticeDelivery.attempts)
        .execution_options(synchronize_session=False)
    )
    jobs = [Job(*row) for row in rows]
    return sorted(jobs, key=lambda job: job.id)


async def finish_jobs(session: AsyncSession, worker_id: str, outcomes: list[Outcome], *, now: datetime) -> None:
    """Write outcomes for jobs this worker still holds, in one transaction: outcomes alike (most of a batch:
    delivered, 201) by one ``UPDATE … WHERE id IN (…)`` per kind, retries (each with its own time) by one
    executemany."""
    if not outcomes:
        return
    table = NoticeDelivery.__table__
    held = (table.c.claimed_by == worker_id, table.c.state == DeliveryState.SENDING.value)
    alike: dict[tuple[DeliveryState, int | None, str | None], list[int]] = defaultdict(list)
    retries = []
    for outcome in outcomes:
        error = (outcome.error or None) and outcome.error[:200]
        if outcome.retry_at is None:
            alike[(outcome.state, outcome.status_code, error)].append(outcome.job_id)
        else:
            retries.append({"job_id": outcome.job_id, "new_state": outcome.state.value,
                            "status_code": outcome.status_code, "error": error, "retry_at": outcome.retry_at,
                            "uncounted": int(outcome.unsent)})
    for (state, status_code, error), job_ids in alike.items():
        await session.execute(
            update(table).where(table.c.id.in_(job_ids), *held)
            .values(state=state.value, last_status_code=status_code, last_error=error, available_at=now,
                    delivered_at=now if state is DeliveryState.DELIVERED else None, claimed_by=None,
                    lease_until=None, updated_at=now))
    if retries:
        await session.execute(
            update(table).where(table.c.id == bindparam("job_id"), *held)
            .values(state=bindparam("new_state"), last_status_code=bindparam("status_code"),
                    last_error=bindparam("error"), available_at=bindparam("retry_at"), delivered_at=None,
                    attempts=table.c.attempts - bindparam("uncounted"), claimed_by=None, lease_until=None,
                    updated_at=now),
            retries)


def push_retry_at(attempts: int, now: datetime, retry_after: timedelta | None) -> datetime | None:
    """Exponential backoff (5 s, 10 s, 20 s … capped at 1 h), never sooner than Retry-After; None: give up."""
    if attempts >= PUSH_MAX_ATTEMPTS:
        return None
    backoff = min(PUSH_BACKOFF_BASE * 2 ** (attempts - 1), PUSH_BACKOFF_MAX)
    return now + max(backoff, retry_after or timedelta(0))


def webhook_retry_at(attempts: int, now: datetime) -> datetime | None:
    if attempts > len(WEBHOOK_RETRY_LADDER):
        return None
    return now + WEBHOOK_RETRY_LADDER[attempts - 1]
