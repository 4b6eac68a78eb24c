from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from api.notices.models import Audience, Category, DeliveryState, NoticeDelivery
from api.notices.outbox import Outcome, claim_jobs, finish_jobs, push_retry_at, webhook_retry_at
from api.notices.segments import Segment
from api.notices.service import NewNotice, publish_notice
from push.models import PushSubscription, VapidKey
from tests.api.notices.conftest import Demo

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


async def publish_to_devices(demo: Demo, devices: int) -> None:
    async with demo.factory() as session, session.begin():
        session.add(VapidKey(generation=1, public_key="k", private_key_ciphertext=b"x"))
        await session.flush()
        for index in range(devices):
            session.add(PushSubscription(person_id=demo.father, endpoint=f"https://push.example/{index}",
                                         p256dh="p", auth="a", vapid_generation=1, device_label="d"))
        await session.flush()
        await publish_notice(session, demo.city.id, NewNotice(Audience.SEGMENT, Category.TAX, "t", "b",
                                                              segment=Segment(min_age=30)),
                             now=NOW, today=date(2026, 6, 1))


async def test_concurrent_workers_claim_disjoint_jobs(demo: Demo) -> None:
    await publish_to_devices(demo, 10)

    async def claim(worker: str) -> list[int]:
        async with demo.factory() as session, session.begin():
            return [job.id for job in await claim_jobs(session, worker, limit=4, lease=LEASE, now=NOW)]

    batches = await asyncio.gather(*(claim(f"w{n}") for n in range(4)))
    claimed = [job for batch in batches for job in batch]
    assert len(claimed) == len(set(claimed)) == 10
    assert max(map(len, batches)) <= 4


async def test_an_expired_lease_is_claimable_again_and_the_old_owner_cannot_finish(demo: Demo) -> None:
    await publish_to_devices(demo, 1)
    async with demo.factory() as session, session.begin():
        [first] = await claim_jobs(session, "crashed", limit=10, lease=LEASE, now=NOW)
        assert await claim_jobs(session, "other", limit=10, lease=LEASE, now=NOW + timedelta(seconds=59)) == []
        [again] = await claim_jobs(session, "other", limit=10, lease=LEASE, now=NOW + timedelta(seconds=61))
        await finish_jobs(session, "crashed", [Outcome(first.id, DeliveryState.DELIVERED, 201)], now=NOW)
    async with demo.factory() as session:
        row = await session.get_one(NoticeDelivery, first.id)
    assert (again.id, again.attempts) == (first.id, 2)
    assert (row.state, row.claimed_by) == (DeliveryState.SENDING, "other")
    async with demo.factory() as session, session.begin():
        await finish_jobs(session, "other", [Outcome(first.id, DeliveryState.DELIVERED, 201)], now=NOW)
    async with demo.factory() as session:
        row = await session.get_one(NoticeDelivery, first.id)
    assert (row.state, row.last_status_code, row.claimed_by, row.delivered_at) == (
        DeliveryState.DELIVERED, 201, None, NOW)


async def test_a_retry_is_not_claimed_before_its_time(demo: Demo) -> None:
    await publish_to_devices(demo, 1)
    async with demo.factory() as session, session.begin():
        [job] = await claim_jobs(session, "w", limit=10, lease=LEASE, now=NOW)
        await finish_jobs(session, "w", [Outcome(job.id, DeliveryState.PENDING, 429, "slow down",
                                                 NOW + timedelta(seconds=30))], now=NOW)
        assert await claim_jobs(session, "w", limit=10, lease=LEASE, now=NOW + timedelta(seconds=29)) == []
        assert len(await claim_jobs(session, "w", limit=10, lease=LEASE, now=NOW + timedelta(seconds=30))) == 1


async def test_one_batch_of_mixed_outcomes_writes_each_job_s_own_and_only_held_jobs(demo: Demo) -> None:
    await publish_to_devices(demo, 6)
    later = NOW + timedelta(seconds=5)
    async with demo.factory() as session, session.begin():
        jobs = await claim_jobs(session, "w", limit=5, lease=LEASE, now=NOW)
        [other] = await claim_jobs(session, "other", limit=5, lease=LEASE, now=NOW)
        a, b, c, d, e = (job.id for job in jobs)
        await finish_jobs(session, "w", [
            Outcome(a, DeliveryState.DELIVERED, 201), Outcome(b, DeliveryState.DELIVERED, 202),
            Outcome(c, DeliveryState.DELIVERED, 201), Outcome(d, DeliveryState.PENDING, 429, "slow down", later),
            Outcome(e, DeliveryState.PERMANENT_FAILURE, 410, "subscription expired"),
            Outcome(other.id, DeliveryState.DELIVERED, 201),  # not this worker's: left alone
        ], now=later)
    async with demo.factory() as session:
        rows = {row.id: row for row in await session.scalars(select(NoticeDelivery))}
    assert [(rows[i].state, rows[i].last_status_code, rows[i].last_error, rows[i].available_at, rows[i].delivered_at,
             rows[i].claimed_by) for i in (a, b, c, d, e, other.id)] == [
        (DeliveryState.DELIVERED, 201, None, later, later, None),
        (DeliveryState.DELIVERED, 202, None, later, later, None),
        (DeliveryState.DELIVERED, 201, None, later, later, None),
        (DeliveryState.PENDING, 429, "slow down", later, None, None),
        (DeliveryState.PERMANENT_FAILURE, 410, "subscription expired", later, None, None),
        (DeliveryState.SENDING, None, None, NOW, None, "other"),
    ]


async def test_a_job_handed_back_unsent_is_claimable_at_once_and_its_attempt_not_counted(demo: Demo) -> None:
    await publish_to_devices(demo, 1)
    async with demo.factory() as session, session.begin():
        [job] = await claim_jobs(session, "w", limit=10, lease=LEASE, now=NOW)
        await finish_jobs(session, "w", [Outcome(job.id, DeliveryState.PENDING, error="not sent", retry_at=NOW,
                                                 unsent=True)], now=NOW)
        [again] = await claim_jobs(session, "other", limit=10, lease=LEASE, now=NOW)
    assert (job.attempts, again.id, again.attempts) == (1, job.id, 1)


def test_push_backoff_doubles_honours_retry_after_and_gives_up() -> None:
    assert push_retry_at(1, NOW, None) == NOW + timedelta(seconds=5)
    assert push_retry_at(3, NOW, None) == NOW + timedelta(seconds=20)
    assert push_retry_at(1, NOW, timedelta(seconds=120)) == NOW + timedelta(seconds=120)
    assert push_retry_at(8, NOW, None) is None


def test_webhooks_follow_the_ladder_then_give_up() -> None:
    assert [webhook_retry_at(n, NOW) - NOW for n in range(1, 6)] == [  # type: ignore[operator]
        timedelta(seconds=60), timedelta(minutes=5), timedelta(hours=1), timedelta(days=1), timedelta(days=2)]
    assert webhook_retry_at(6, NOW) is None
