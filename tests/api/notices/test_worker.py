"""End to end: publish → outbox → worker → the local push service (TLS on loopback) → decrypted payload."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.agencies.models import Agency
from api.demo import seed_demo
from api.notices.models import Audience, Category, DeliveryState, NoticeDelivery, Priority
from api.notices.segments import Segment
from api.notices.service import NewNotice, publish_notice
from api.notices.worker import Worker, WorkerConfig
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory, utcnow
from push.models import PushSubscription
from push.subscriptions import register_subscription
from push.vapid import current_key, vapid_box
from tests.conftest import TEST_DATA_KEY
from tests.push.helpers import LocalPushService

SUBJECT = "mailto:push@example.jp"


async def setup(engine: AsyncEngine, cipher: IndividualNumberCipher, service: LocalPushService,
                devices: dict[int, int]) -> tuple[async_sessionmaker[AsyncSession], list[uuid.UUID], uuid.UUID,
                                                  dict[str, uuid.UUID]]:
    """Demo people; ``devices`` maps person index (father, mother, child) to a number of devices."""
    factory = create_session_factory(engine)
    owners: dict[str, uuid.UUID] = {}
    async with factory() as session, session.begin():
        people = (await seed_demo(session, cipher)).people
        city = await session.scalar(select(Agency.id).where(Agency.slug == "chiyoda-city"))
        key = await current_key(session, vapid_box(TEST_DATA_KEY))
        for index, count in devices.items():
            for sub in await service.subscriptions(count):
                await register_subscription(session, people[index], endpoint=sub["endpoint"],
                                            p256dh=sub["keys"]["p256dh"], auth=sub["keys"]["auth"],
                                            application_server_key=key.public_key, device_label="phone")
                owners[sub["endpoint"].rsplit("/", 1)[1]] = people[index]
    assert city is not None
    return factory, people, city, owners


def worker(factory: async_sessionmaker[AsyncSession], service: LocalPushService) -> Worker:
    return Worker(factory, WorkerConfig(data_key=TEST_DATA_KEY, vapid_subject=SUBJECT, ca_file=str(service.ca_file),
                                        reminder_interval=3600, worker_id="test-worker"))


async def publish(factory: async_sessionmaker[AsyncSession], city: uuid.UUID, **overrides: object) -> uuid.UUID:
    values: dict[str, object] = {"audience": Audience.SEGMENT, "category": Category.CHILD_REARING,
                                 "title": "児童手当", "body": "現況届", "segment": Segment(has_child_under=18)}
    values.update(overrides)
    async with factory() as session, session.begin():
        published = await publish_notice(session, city, NewNotice(**values), now=utcnow(),  # type: ignore[arg-type]
                                         today=date.today())
    return published.notice.id


async def states(factory: async_sessionmaker[AsyncSession]) -> list[tuple[str, int, int | None]]:
    async with factory() as session:
        rows = await session.execute(select(NoticeDelivery.state, NoticeDelivery.attempts,
                                            NoticeDelivery.last_status_code).order_by(NoticeDelivery.id))
        return [(state.value, attempts, code) for state, attempts, code in rows]


async def test_a_segment_notice_reaches_every_device_of_every_matching_person_decrypted(
    engine: AsyncEngine, cipher: IndividualNumberCipher, push_service: LocalPushService
) -> None:
    factory, people, city, owners = await setup(engine, cipher, push_service, {0: 2, 1: 1, 2: 1})
    notice_id = await publish(factory, city, category=Category.DISASTER,
                              expires_at=utcnow() + timedelta(hours=2))
    stats = await worker(factory, push_service).run(asyncio.Event(), exit_when_idle=True)
    messages = await push_service.messages()
    parents = {people[0], people[1]}
    assert stats.delivered == 3
    assert sorted(owners[m["subscription"]] in parents for m in messages) == [True] * 3
    assert {m["subscription"] for m in messages} == {s for s, owner in owners.items() if owner in parents}
    for message in messages:
        assert message["payload"] == {"v": 1, "notice": str(notice_id), "category": "disaster"}
        assert (message["urgency"], message["topic"]) == ("high", notice_id.hex)
        assert 7000 < message["ttl"] <= 7200
    assert await states(factory) == [("delivered", 1, 201)] * 3
    assert (await push_service.stats())["connections_by_http_version"] == {"2": 1}  # PushClient, one connection


async def test_410_deletes_the_subscription_and_the_status_says_why(
    engine: AsyncEngine, cipher: IndividualNumberCipher, push_service: LocalPushService
) -> None:
    factory, _, city, _ = await setup(engine, cipher, push_service, {0: 1})
    await publish(factory, city, priority=Priority.LOW)
    await push_service.control("410", count=1)
    await worker(factory, push_service).run(asyncio.Event(), exit_when_idle=True)
    assert await states(factory) == [("permanent-failure", 1, 410)]
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(PushSubscription)) == 0
    assert (await push_service.stats())["accepted"] == 0


@pytest.mark.parametrize(("_case", "mode", "retry_after", "wait"), [
    ("429 with Retry-After", "429", 30, 30), ("500 backs off", "500", 0, 5)])
async def test_throttling_and_errors_are_retried_no_sooner_than_asked(
    engine: AsyncEngine, cipher: IndividualNumberCipher, push_service: LocalPushService,
    _case: str, mode: str, retry_after: int, wait: int,
) -> None:
    factory, _, city, _ = await setup(engine, cipher, push_service, {0: 1})
    await publish(factory, city)
    await push_service.control(mode, count=1, retry_after=retry_after)
    before = utcnow()
    sender = worker(factory, push_service)
    await sender.run(asyncio.Event(), exit_when_idle=True)
    async with factory() as session:
        job = await session.scalar(select(NoticeDelivery))
    assert job is not None and (job.state, job.attempts, job.last_status_code) == (
        DeliveryState.PENDING, 1, int(mode))
    assert before + timedelta(seconds=wait) <= job.available_at <= utcnow() + timedelta(seconds=wait)
    assert await sender.run(asyncio.Event(), exit_when_idle=True) and sender.stats.claimed == 1  # not yet due
    async with factory() as session, session.begin():  # the wait is over
        await session.execute(update(NoticeDelivery).values(available_at=datetime.now(UTC) - timedelta(seconds=1)))
    await sender.run(asyncio.Event(), exit_when_idle=True)
    assert await states(factory) == [("delivered", 2, 201)]
    assert list((await push_service.stats())["per_message"].values()) == [1]


async def test_an_expired_notice_is_not_sent(
    engine: AsyncEngine, cipher: IndividualNumberCipher, push_service: LocalPushService
) -> None:
    factory, _, city, _ = await setup(engine, cipher, push_service, {0: 1})
    await publish(factory, city, expires_at=utcnow() + timedelta(seconds=1))
    await asyncio.sleep(1.1)
    await worker(factory, push_service).run(asyncio.Event(), exit_when_idle=True)
    assert await states(factory) == [("expired", 1, None)]
    assert (await push_service.stats())["requests"] == 0
