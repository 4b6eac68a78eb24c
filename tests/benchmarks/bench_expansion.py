"""Expanding a notice to everyone (a script, not collected by pytest): N people (default 1,000,000), one device each.

Baseline (the same run, the same data): the former way, recipients and delivery jobs of everyone written by one
INSERT … SELECT transaction (``write_recipients`` over the whole segment): nothing can be sent until it commits.
Now: the publish writes the first chunk (its jobs are claimable when it commits: "first pushes leave"), then
``mynaportal notices-expand`` (its own process) writes the rest chunk by chunk; reported: time to the first
claimable job, rows/s, time to the last job written, and the expanding process's peak memory (flat: it holds one
chunk at a time). Sending itself is bench_notices.py's figure.

    .venv/bin/python tests/benchmarks/bench_expansion.py [--people 1000000] [--database postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.agencies.models import Agency, AgencyKind  # noqa: E402
from api.migrate import migrate  # noqa: E402
from api.notices.expansion import write_recipients  # noqa: E402
from api.notices.models import Audience, Category, Notice, NoticeDelivery, NoticeRecipient, Priority  # noqa: E402
from api.notices.service import NewNotice, publish_notice  # noqa: E402
from api.people.models import Municipality, Person, Sex  # noqa: E402
from api.platform.db import create_engine, create_session_factory, utcnow  # noqa: E402
from push.models import PushSubscription  # noqa: E402
from push.vapid import current_key, vapid_box  # noqa: E402
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings  # noqa: E402

CHUNK = 20_000


async def fresh_database(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'expansion.sqlite3'}"
    else:
        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", poolclass=NullPool,
                              isolation_level="AUTOCOMMIT")
        name = f"bench_expansion_{uuid.uuid4().hex[:8]}"
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    await migrate(make_settings(url))
    return url


async def seed(factory, people: int) -> uuid.UUID:  # type: ignore[no-untyped-def]
    async with factory() as session, session.begin():
        session.add(Municipality(code="131016", prefecture="東京都", name="千代田区"))
        await session.flush()
        agency = Agency(slug="cabinet", name="内閣府", kind=AgencyKind.MINISTRY)
        session.add(agency)
        await session.flush()
        generation = (await current_key(session, vapid_box(TEST_DATA_KEY))).generation
    now = utcnow()
    for start in range(0, people, CHUNK):
        ids = [uuid.uuid4() for _ in range(min(CHUNK, people - start))]
        async with factory() as session, session.begin():
            await session.execute(insert(Person), [
                {"id": pid, "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "birth_date": date(1985, 4, 1),
                 "sex": Sex.MALE, "address": "東京都千代田区", "municipality_code": "131016",
                 "individual_number_ciphertext": secrets.token_bytes(40),
                 "individual_number_hash": secrets.token_bytes(32), "created_at": now} for pid in ids])
            await session.execute(insert(PushSubscription), [
                {"id": uuid.uuid4(), "person_id": pid, "endpoint": f"https://push.example/{pid.hex}", "p256dh": "p",
                 "auth": "a", "vapid_generation": generation, "device_label": "phone", "created_at": now}
                for pid in ids])
    return agency.id


def message(reference: str) -> NewNotice:
    return NewNotice(Audience.EVERYONE, Category.DISASTER, "全国瞬時警報", "身の安全を確保してください。",
                     Priority.HIGH, reference=reference)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--database-url", help="a database seeded by an earlier run "
                        "(PostgreSQL's bench_expansion_* are kept)")
    parser.add_argument("--skip-baseline", action="store_true", help="only the chunked expansion")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}, "
          f"database {args.database}, {args.people:,} people with one device each")
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or await fresh_database(args.database, Path(folder))
        engine = create_engine(url, poolclass=NullPool)
        factory = create_session_factory(engine)
        began = time.perf_counter()
        if args.database_url:  # seeded by an earlier run
            async with factory() as session:
                agency_id = await session.scalar(select(Agency.id))
        else:
            agency_id = await seed(factory, args.people)
            print(f"seeded in {time.perf_counter() - began:.0f} s")

        # Baseline: everyone in one transaction.
        began = time.perf_counter()
        async with factory() as session, session.begin():
            if args.skip_baseline:
                await session.execute(delete(NoticeDelivery))
                await session.execute(delete(NoticeRecipient))
                await session.execute(delete(Notice))
        async with factory() as session, session.begin():
            now = utcnow()
            notice = Notice(agency_id=agency_id, audience=Audience.EVERYONE, category=Category.DISASTER,
                            priority=Priority.HIGH, title="baseline", body="b", publish_at=now, recipient_count=0,
                            created_at=now)
            session.add(notice)
            await session.flush()
            written = 1 if args.skip_baseline else await write_recipients(session, notice, Person.id.is_not(None), now)
        one_transaction = time.perf_counter() - began
        if not args.skip_baseline:
            print(f"baseline, one transaction: {written:,} recipients + jobs in {one_transaction:.1f} s "
                  f"({written / one_transaction:,.0f} rows/s); the first push can leave only after "
                  f"{one_transaction:.1f} s")
        async with factory() as session, session.begin():  # the same empty tables for the new way
            await session.execute(delete(NoticeDelivery))
            await session.execute(delete(NoticeRecipient))
            await session.execute(delete(Notice))
        if url.startswith("postgresql"):
            async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
                await connection.execute(text("VACUUM ANALYZE notice_recipients"))
                await connection.execute(text("VACUUM ANALYZE notice_deliveries"))

        began = time.perf_counter()
        async with factory() as session, session.begin():
            published = await publish_notice(session, agency_id, message("chunked"), now=utcnow(),
                                             today=datetime.now(UTC).date())
        first = time.perf_counter() - began
        print(f"chunked: publish + first chunk ({published.notice.recipient_count:,} recipients, their jobs "
              f"claimable) in {first:.2f} s")
        env = {**os.environ, "MYNAPORTAL_DATABASE_URL": url, "MYNAPORTAL_LOG_LEVEL": "WARNING",
               "MYNAPORTAL_DATA_KEY": base64.b64encode(TEST_DATA_KEY).decode(),
               "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(TEST_LOOKUP_KEY).decode()}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        command = [sys.executable, "-c", "from api.cli import main; main()", "notices-expand", "--chunk",
                   str(args.chunk)]
        subprocess.run(command, env=env, cwd=ROOT, check=True)  # noqa: ASYNC221 (the timed process, alone)
        expanding = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        async with factory() as session:
            recipients = await session.scalar(select(func.count()).select_from(NoticeRecipient))
            jobs = await session.scalar(select(func.count()).select_from(NoticeDelivery))
        rest = recipients - published.notice.recipient_count
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(f"chunked: the rest ({rest:,} recipients, chunks of {args.chunk:,}) by `notices-expand` in "
              f"{expanding:.1f} s = {rest / expanding:,.0f} rows/s; last job written {first + expanding:.1f} s after "
              f"the publish began; expander CPU {cpu:.1f} s, peak memory {after.ru_maxrss / 1024:.0f} MiB; "
              f"totals {recipients:,} recipients, {jobs:,} jobs")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
