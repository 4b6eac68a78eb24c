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
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.notices.models import Category, DeliveryState, NoticeDelivery
from api.notices.segments import Segment
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import READ_ONLY_OPTION
from tests.api.notices.test_worker import publish, setup
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY
from tests.push.helpers import LocalPushService

DEVICES_PER_PERSON = 20  # the most a person may register
LEASE_SECONDS = 8


def worker_env(database_url: str, service: LocalPushService, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MYNAPORTAL_DATABASE_URL": database_url,
            "MYNAPORTAL_DATA_KEY": base64.b64encode(TEST_DATA_KEY).decode(),
            "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(TEST_LOOKUP_KEY).decode(),
            "MYNAPORTAL_DEMO_KEYS_FILE": str(tmp_path / "keys.json"),
            "MYNAPORTAL_PUSH_CA_FILE": str(service.ca_file), "MYNAPORTAL_LOG_LEVEL": "WARNING"}


async def start_worker(env: dict[str, str], *extra: str) -> asyncio.subprocess.Process:
    command = Path(sys.executable).parent / "mynaportal"
    return await asyncio.create_subprocess_exec(
        str(command), "worker", "--batch", "100", "--concurrency", "8", "--lease", str(LEASE_SECONDS),
        "--timeout", "5", *extra, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


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
        await wait_for(lambda: _settled(engine, state))
        first.kill()
        assert await first.wait() == -signal.SIGKILL
        assert len(state.received) == 25
        await push_service.control("ok")  # release the held requests: answered 503 to a dead worker, not accepted

        await asyncio.sleep(LEASE_SECONDS + 0.5)  # the dead worker's leases run out
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
