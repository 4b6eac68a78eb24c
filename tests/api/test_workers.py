"""Two real server processes on one PostgreSQL database and one Redis: a rate limit holds across them, and the
webhook replay guard holds across processes and across a restart (nothing kept per process that must be shared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.platform.test_rate_limits import REDIS_URL, require_redis
from tests.served import COMMAND, serving

pytestmark = pytest.mark.postgres

# Claims ids with the database replay guard in its own process and prints which were new (a worker's view).
CLAIM = """
import asyncio, json, sys
from api.platform.db import create_engine, create_session_factory, dispose_engine, utcnow
from api.platform.replay import DatabaseReplayGuard

async def main():
    engine = create_engine(sys.argv[1])
    guard = DatabaseReplayGuard(create_session_factory(engine), "payment-gateway")
    now = utcnow()
    print(json.dumps([await guard.first_time(message_id, now) for message_id in sys.argv[2:]]))
    await dispose_engine(engine)

asyncio.run(main())
"""


@pytest.fixture
def env(tmp_path: Path, postgres_database: str) -> dict[str, str]:
    require_redis()
    return {**os.environ, "MYNAPORTAL_DATABASE_URL": postgres_database,
            "MYNAPORTAL_DEMO_KEYS_FILE": str(tmp_path / "demo-keys.json"),
            "MYNAPORTAL_RATE_LIMIT_STORAGE": REDIS_URL,
            "MYNAPORTAL_RATE_LIMIT_PREFIX": f"test-{uuid.uuid4().hex[:12]}",
            "MYNAPORTAL_LOG_LEVEL": "WARNING"}


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([COMMAND, *args], env=env, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def empty_tables(env: dict[str, str]) -> None:
    """The migrated database is the session's: empty what a test wrote, for the tests after it."""
    subprocess.run([sys.executable, "-c", "import asyncio, sys; from sqlalchemy import delete;"
                    "from api.models import Base; from api.platform.db import create_engine\n"
                    "async def main():\n e = create_engine(sys.argv[1])\n async with e.begin() as c:\n"
                    "  [await c.execute(delete(t)) for t in reversed(Base.metadata.sorted_tables)]\n"
                    " await e.dispose()\nasyncio.run(main())", env["MYNAPORTAL_DATABASE_URL"]], check=True, env=env)


def claim(env: dict[str, str], *message_ids: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CLAIM, env["MYNAPORTAL_DATABASE_URL"], *message_ids],
                            env=env, stdout=subprocess.PIPE, text=True)


def claimed(process: subprocess.Popen[str]) -> list[bool]:
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return json.loads(out)


@pytest.fixture
def servers(env: dict[str, str]) -> Iterator[tuple[list[str], str]]:
    """Two `mynaportal serve` processes (one worker each) sharing the database and Redis; an application id."""
    run(env, "migrate")
    app_id = run(env, "corporate", "app-id", "create", "Two Workers KK").strip().splitlines()[-1]
    limited = {**env, "MYNAPORTAL_CORPORATE_RATE": "1", "MYNAPORTAL_CORPORATE_BURST": "4"}
    with serving(limited) as first, serving(limited) as second:
        yield [first.base, second.base], app_id
    empty_tables(env)


def test_a_rate_limit_holds_across_two_server_processes(servers: tuple[list[str], str]) -> None:
    bases, app_id = servers
    params = {"id": app_id, "number": "1000012160145", "type": "21"}
    # 8 requests in turn to the two processes: a burst of 4 is 4 in all, not 4 in each.
    answers = [httpx.get(f"{bases[turn % 2]}/corporate/4/num", params=params) for turn in range(8)]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 200, 200, 429, 429, 429, 429]
    assert {answer.json()["code"] for answer in answers[4:]} == {"002"}
    assert all(1 <= int(answer.headers["retry-after"]) <= 4 for answer in answers[4:])


def test_the_replay_guard_holds_across_processes_and_a_restart(env: dict[str, str]) -> None:
    run(env, "migrate")
    ids = [f"msg_{uuid.uuid4().hex}" for _ in range(40)]
    # Two processes claim the same 40 ids at once: each id is won by exactly one of them.
    first, second = claim(env, *ids), claim(env, *reversed(ids))
    by_first, by_second = claimed(first), list(reversed(claimed(second)))
    assert [a != b for a, b in zip(by_first, by_second, strict=True)] == [True] * 40
    # A process started afterwards (a restarted worker) still refuses them, and takes a new one.
    assert claimed(claim(env, ids[0], ids[-1], f"msg_{uuid.uuid4().hex}")) == [False, False, True]
    empty_tables(env)


def test_serve_with_two_workers_adds_up_every_workers_metrics(env: dict[str, str]) -> None:
    run(env, "migrate")
    with serving(env, workers=2) as server:
        for _ in range(12):  # a new connection each: the kernel spreads them over the two workers
            assert httpx.get(f"{server.base}/corporate/openapi.json").status_code == 200
        # Whichever worker answers the scrape, it counts all twelve.
        for _ in range(4):
            text = httpx.get(f"{server.base}/metrics").text
            line = next(line for line in text.splitlines() if line.startswith(
                "mynaportal_http_request_duration_seconds_count{") and 'route="/corporate/openapi.json"' in line)
            assert float(line.rsplit(" ", 1)[1]) == 12.0


def test_serve_with_two_workers_refuses_per_process_rate_limits(env: dict[str, str]) -> None:
    done = subprocess.run([COMMAND, "serve", "--workers", "2"], env={**env, "MYNAPORTAL_RATE_LIMIT_STORAGE": "memory://"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (1, "mynaportal: --workers above 1 needs shared rate limits: set "
                                                 "MYNAPORTAL_RATE_LIMIT_STORAGE=redis://host:6379/0\n")
