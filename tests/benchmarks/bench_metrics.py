"""The database work of one /metrics scrape's push outcomes at scale: counting the table (main before the
estimates) against the planner's estimates (api.platform.estimates), on a PostgreSQL database of its own with
``--rows`` Web Push and webhook deliveries (default 1,000,000), analyzed as autovacuum would.

    .venv/bin/python -m tests.benchmarks.bench_metrics [--rows 1000000] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Prints wall time and this process's CPU time per scrape for each way, and each way's figures (the estimates'
error against the counts).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import func, select, text
from sqlalchemy.pool import NullPool

from api.metrics import OUTCOME_STATISTICS
from api.migrate import migrate
from api.notices.models import Channel, NoticeDelivery
from api.platform.db import create_engine, create_session_factory
from api.platform.estimates import estimated_groups
from tests.conftest import make_settings

FILL = """INSERT INTO notice_deliveries (notice_id, channel, target_id, person_id, state, attempts, available_at,
                               updated_at, last_status_code)
SELECT gen_random_uuid(), CASE WHEN i % 5 = 0 THEN 'webhook' ELSE 'webpush' END, gen_random_uuid(), gen_random_uuid(),
       CASE WHEN i % 3 = 0 THEN 'delivered' WHEN i % 7 = 0 THEN 'temporary-failure' ELSE 'permanent-failure' END,
       1, now(), now(), CASE WHEN i % 3 = 0 THEN 201 WHEN i % 7 = 0 THEN 503 ELSE 410 END
FROM generate_series(1, :rows) AS i"""


async def scrape_costs(url: str, rows: int, repeats: int = 5) -> None:
    await migrate(make_settings(url))
    engine = create_engine(url)
    async with engine.begin() as connection:
        # The rows stand alone: no notices or people behind them (foreign keys not checked for this session).
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text(FILL), {"rows": rows})
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("ANALYZE notice_deliveries"))
    reads = create_session_factory(engine, read_only=True)

    async def counted(session):  # what api.metrics ran on every scrape before
        found = await session.execute(
            select(NoticeDelivery.state, NoticeDelivery.last_status_code, func.count())
            .where(NoticeDelivery.channel == Channel.WEBPUSH)
            .group_by(NoticeDelivery.state, NoticeDelivery.last_status_code))
        return {(str(state), str(code)): count for state, code, count in found}

    async def estimated(session):
        found = await estimated_groups(session, "notice_deliveries", ["channel", "state", "last_status_code"],
                                       statistics=OUTCOME_STATISTICS)
        return {(state, code): count for (channel, state, code), count in (found or {}).items()
                if channel == Channel.WEBPUSH.value}

    for name, way in (("count", counted), ("estimate", estimated)):
        async with reads() as session:
            await way(session)  # warm: the pool's connection, the statement
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeats):
                figures = await way(session)
            print(f"{name:9} {(time.perf_counter() - wall) / repeats * 1000:8.1f} ms wall per scrape, "
                  f"{(time.process_time() - cpu) / repeats * 1000:6.2f} ms CPU here   {sorted(figures.items())}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    admin_url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_sync_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"bench_metrics_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(scrape_costs(f"{admin_url.rsplit('/', 1)[0]}/{name}", args.rows))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
