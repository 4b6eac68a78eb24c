"""`mynaportal worker` killed with SIGKILL mid-batch: restarted, it leaves no notice unsent and none sent twice.

The local push service counts every accepted request (it dedupes nothing). The kill comes while part of a
claimed batch has been accepted and committed and the rest is held unanswered at the push service (so not
accepted); the held requests are abandoned by the dead worker and re-sent after the lease expires.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.notices.models import Category, DeliveryState, NoticeDelivery
from api.notices.segments import Segment
from api.notices.worker import WorkerConfig
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import READ_ONLY_OPTION
from tests.api.notices.test_worker import publish, setup
from tests.conftest import LOG_GUARD, TEST_DATA_KEY, TEST_LOOKUP_KEY
from tests.push.helpers import LocalPushService

DEVICES_PER_PERSON = 20  # the most a person may register
LEASE_SECONDS = 8
FLUSH_BATCH = WorkerConfig.flush_batch  # the worker's default


def worker_env(database_url: str, service: LocalPushService, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MYNAPORTAL_DATABASE_URL": database_url,
            "MYNAPORTAL_DATA_KEY": base64.b64encode(TEST_DATA_KEY).decode(),
            "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(TEST_LOOKUP_KEY).decode(),
            "MYNAPORTAL_DEMO_KEYS_FILE": str(tmp_path / "keys.json"),
            "MYNAPORTAL_PUSH_CA_FILE": str(service.ca_file), "MYNAPORTAL_LOG_LEVEL": "WARNING"}


async def start_worker(env: dict[str, str], *extra: str, concurrency: int = 8,
                       batch: int = 100) -> asyncio.subprocess.Process:
    command = Path(sys.executable).parent / "mynaportal"
    return await asyncio.create_subprocess_exec(
        str(command), "worker", "--batch", str(batch), "--concurrency", str(concurrency), "--lease", str(LEASE_SECONDS),
        "--timeout", "5", *extra, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def expire_leases(engine: AsyncEngine) -> int:
    """The dead worker's leases run out: what waiting LEASE_SECONDS does, without the wait. Only jobs still
    ``sending`` (claimed by the killed worker) are touched; the claim's own test (lease_until < now) decides."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(NoticeDelivery).where(NoticeDelivery.state == DeliveryState.SENDING)
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
        return int(result.rowcount)


async def committed(engine: AsyncEngine) -> int:
    # A read-only connection: polling must not take SQLite's write lock from the worker it watches.
    async with engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(NoticeDelivery).where(
            NoticeDelivery.state == DeliveryState.DELIVERED)) or 0)


async def wait_for(condition: object, limit: float = 20) -> None:
    """Poll a condition that spans two processes and a database (no event to wait on)."""
    async with asyncio.timeout(limit):
        while not await condition():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_sigkill_mid_batch_loses_nothing_and_sends_nothing_twice(
    engine: AsyncEngine, cipher: IndividualNumberCipher, push_service: LocalPushService, database_url: str,
    tmp_path: Path,
) -> None:
    factory, _, city, owners = await setup(engine, cipher, push_service, dict.fromkeys(range(3), DEVICES_PER_PERSON))
    notices = [await publish(factory, city, category=category, segment=Segment(municipality_code="131016"))
               for category in (Category.TAX, Category.HEALTH)]
    env = worker_env(database_url, push_service, tmp_path)
    state = push_service.state

    # The service accepts 25 messages, then holds every request unanswered: mid-batch, deterministically.
    await push_service.control("hold", after=25)
    first = await start_worker(env)
    second = None
    try:
        # Kill only once every accepted message is committed and some requests of the batch are held.
        await wait_for(lambda: _settled(engine, state), 60)  # the worker process starts slowly on a loaded machine
        first.kill()
        assert await first.wait() == -signal.SIGKILL
        assert len(state.received) == 25
        await push_service.control("ok")  # release the held requests: answered 503 to a dead worker, not accepted

        assert await expire_leases(engine) > 0  # the dead worker's leases run out (it held unsent jobs)
        second = await start_worker(env, "--once")
        out, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 0, err.decode()
    finally:  # a failed run must not leave a worker behind; its log tells why
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                _, log = await process.communicate()
                print(log.decode(errors="replace")[-4000:])  # pytest shows it when the test fails

    stats = await push_service.stats()
    expected = {f"{subscription}:{notice}" for subscription in owners for notice in notices}
    assert stats["per_message"] == dict.fromkeys(expected, 1)
    assert await committed(engine) == len(expected) == 3 * 2 * DEVICES_PER_PERSON
    assert b"claimed" in out


async def _settled(engine: AsyncEngine, state: object) -> bool:
    held = state.requests - len(state.received)  # type: ignore[attr-defined]
    return held > 0 and await committed(engine) == len(state.received)  # type: ignore[attr-defined]


async def test_sigkill_while_sending_resends_at_most_the_sends_in_flight_and_one_outcome_batch(
    engine: AsyncEngine, cipher: IndividualNumberCipher, push_service: LocalPushService, database_url: str,
    tmp_path: Path,
) -> None:
    """The realistic crash: the push service accepts everything and the worker dies at full speed. Every accepted
    push whose outcome was not committed is sent again after the lease: that count is bounded by design."""
    factory, _, city, owners = await setup(engine, cipher, push_service, dict.fromkeys(range(3), DEVICES_PER_PERSON))
    notices = [await publish(factory, city, category=Category.TAX, segment=Segment(municipality_code="131016"))
               for _ in range(6)]
    env = worker_env(database_url, push_service, tmp_path)
    state = push_service.state
    concurrency = 32
    first = await start_worker(env, concurrency=concurrency, batch=200)
    second = None
    try:
        await wait_for(lambda: _accepted_at_least(state, 120), 60)  # well inside the first batch of 200
        first.kill()
        assert await first.wait() == -signal.SIGKILL
        await asyncio.sleep(0.5)  # requests the dead worker had fully sent are still answered by the service
        accepted_at_kill, committed_at_kill = len(state.received), await committed(engine)
        assert await expire_leases(engine) > 0
        second = await start_worker(env, concurrency=concurrency, batch=200)
        await finish(second, engine, len(owners) * len(notices))
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.communicate()

    per_message = (await push_service.stats())["per_message"]
    expected = {f"{subscription}:{notice}" for subscription in owners for notice in notices}
    assert set(per_message) == expected  # nothing lost
    duplicates = sum(count - 1 for count in per_message.values())
    print(f"SIGKILL after {accepted_at_kill} accepted, {committed_at_kill} committed: {duplicates} sent twice")
    assert duplicates == accepted_at_kill - committed_at_kill  # exactly the accepted, uncommitted ones
    assert max(per_message.values()) <= 2
    assert duplicates <= concurrency + FLUSH_BATCH
    assert await committed(engine) == len(expected)


async def finish(worker: asyncio.subprocess.Process, engine: AsyncEngine, jobs: int) -> None:
    """Let a worker run until every job is delivered (under load some sends are left to the next round, or
    time out and retry), then stop it as an operator does (SIGTERM)."""
    async def all_delivered() -> bool:
        return await committed(engine) == jobs

    await wait_for(all_delivered, 120)
    worker.terminate()
    _, err = await asyncio.wait_for(worker.communicate(), 60)
    assert worker.returncode == 0, err.decode()
    LOG_GUARD.check("the restarted worker's stderr", err.decode())


async def _accepted_at_least(state: object, count: int) -> bool:
    return len(state.received) >= count  # type: ignore[attr-defined]


@asynccontextmanager
async def writes_stalled(engine: AsyncEngine, database_url: str) -> AsyncIterator[None]:
    """Hold the write lock on the outbox (a slow or stalled database): readers go on, the worker's flushes wait."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execute(text("LOCK TABLE notice_deliveries IN EXCLUSIVE MODE"))
            yield
            await connection.rollback()
        return
    blocker = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()


async def test_a_stalled_database_stops_the_sends_so_a_sigkill_resends_no_more_than_the_bound(
    engine: AsyncEngine, cipher: IndividualNumberCipher, push_service: LocalPushService, database_url: str,
    tmp_path: Path,
) -> None:
    """While outcomes cannot be written the worker must not go on sending: everything it sends and cannot record
    is sent again after a crash."""
    factory, _, city, owners = await setup(engine, cipher, push_service, dict.fromkeys(range(3), DEVICES_PER_PERSON))
    # 720 messages in one claim: the worker is still sending them (leased) when the writes stall. With a batch of
    # 200, the HTTP/2 sender had often sent and recorded the whole batch before the stall began, and the stall then
    # caught it between batches, with nothing leased.
    notices = [await publish(factory, city, category=Category.TAX, segment=Segment(municipality_code="131016"))
               for _ in range(12)]
    env = worker_env(database_url, push_service, tmp_path)
    state = push_service.state
    concurrency = 32
    first = await start_worker(env, concurrency=concurrency, batch=1000)
    second = None
    try:
        await wait_for(lambda: _first_outcomes_committed(engine, state), 60)
        async with writes_stalled(engine, database_url):
            await asyncio.sleep(2)  # far longer than a flush takes: the worker could send the whole batch
            first.kill()
            assert await first.wait() == -signal.SIGKILL
        await asyncio.sleep(0.5)
        accepted_at_kill, committed_at_kill = len(state.received), await committed(engine)
        assert await expire_leases(engine) > 0
        second = await start_worker(env, concurrency=concurrency, batch=200)
        await finish(second, engine, len(owners) * len(notices))
    finally:
        for process in (first, second):
            if process is not None and process.returncode is None:
                process.kill()
                await process.communicate()

    per_message = (await push_service.stats())["per_message"]
    assert set(per_message) == {f"{subscription}:{notice}" for subscription in owners for notice in notices}
    duplicates = sum(count - 1 for count in per_message.values())
    print(f"stalled database, SIGKILL after {accepted_at_kill} accepted, {committed_at_kill} committed: "
          f"{duplicates} sent twice")
    assert duplicates == accepted_at_kill - committed_at_kill
    assert 0 < duplicates <= concurrency + FLUSH_BATCH


async def _first_outcomes_committed(engine: AsyncEngine, state: object) -> bool:
    return len(state.received) >= 40 and await committed(engine) > 0  # type: ignore[attr-defined]
