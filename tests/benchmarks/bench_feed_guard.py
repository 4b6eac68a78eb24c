"""Benchmark: what one round of the live feeds' guard costs a worker (api.platform.feed_guard): the batched check of
every open feed's session token (``ended_sessions``, 500 ids a statement), for 1,000 to 50,000 open feeds, against
the baseline of checking each feed on its own (one point read per feed, as ``authenticate_person`` does).

    python tests/benchmarks/bench_feed_guard.py [--database sqlite|postgresql] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from api.demo import seed_demo  # noqa: E402
from api.identity.authentication import _LOOKUP, ended_sessions  # noqa: E402
from api.identity.models import SessionToken  # noqa: E402
from api.people.individual_number import IndividualNumberCipher  # noqa: E402
from api.platform.auth import hash_token  # noqa: E402
from api.platform.db import create_engine, create_session_factory, dispose_engine, new_id, utcnow  # noqa: E402
from tests.benchmarks.bench_payments import database  # noqa: E402
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY  # noqa: E402

SIZES = (1_000, 10_000, 50_000)  # open feeds in one worker


async def main(kind: str, rounds: int) -> None:
    url, cleanup = await database(kind)
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            seed = await seed_demo(session, IndividualNumberCipher(TEST_DATA_KEY, TEST_LOOKUP_KEY))
        now = utcnow()
        rows = [{"id": new_id(), "token_hash": hash_token(f"mpt_bench{n}"), "person_id": seed.people[0],
                 "scopes": "profile:read", "client": "bench", "created_at": now,
                 "expires_at": now + timedelta(hours=1)} for n in range(max(SIZES))]
        async with engine.begin() as connection:
            for start in range(0, len(rows), 5_000):
                await connection.execute(insert(SessionToken), rows[start:start + 5_000])
        ids = [row["id"] for row in rows]
        print(f"{kind}: one guard round (ended_sessions over every open feed's token), median of {rounds}")
        for size in SIZES:
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                assert await ended_sessions(engine, ids[:size]) == {}
                times.append(time.perf_counter() - started)
            print(f"  {size:>6} feeds: {statistics.median(times) * 1000:8.1f} ms a round"
                  f" ({statistics.median(times) / size * 1e6:.1f} µs a feed)")
        size = 1_000
        started = time.perf_counter()
        for row in rows[:size]:
            await _LOOKUP.first(engine, {"token_hash": row["token_hash"]})
        each = time.perf_counter() - started
        print(f"  baseline, one point read per feed: {size} feeds {each * 1000:.1f} ms a round"
              f" ({each / size * 1e6:.1f} µs a feed)")
    finally:
        await dispose_engine(engine)
        if cleanup is not None:
            cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.database, arguments.rounds))
