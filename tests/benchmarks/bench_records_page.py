"""The person's record page (a runnable script, not collected by pytest): a 20-row page of `recordHistory`'s
query (api.history.entries.record_page: exchange and access entries merged, newest first) with N exchange records
in PostgreSQL, partitioned by month as migration 0016 makes it.

The rows are generated in the database with generate_series (persons, agencies, exchange records spread over
7 years, one access record per 10 exchanges), then the first page and a second page (by cursor) of random people
are read, each in its own read transaction, as the resolver does; p50/p95/p99 in ms.

    .venv/bin/python tests/benchmarks/bench_records_page.py [--records 10000000] [--people 50000] [--reads 500]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.history.entries import RecordFilter, own_record_page, record_page  # noqa: E402
from api.history.retention import add_months, create_month  # noqa: E402
from api.migrate import migrate  # noqa: E402
from api.platform.db import create_engine, create_session_factory  # noqa: E402
from api.platform.pagination import PageRequest, decode_cursor  # noqa: E402
from tests.conftest import POSTGRES_URL, make_settings  # noqa: E402

YEARS = 7
GENERIC = False


def _admin() -> object:
    return create_sync_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool,
                              isolation_level="AUTOCOMMIT")


async def load(url: str, records: int, people: int) -> None:
    engine = create_engine(url, poolclass=NullPool)
    now = datetime.now(UTC)
    first_month = date(now.year - YEARS, now.month, 1)
    async with engine.begin() as connection:
        month = first_month
        while month <= date(now.year, now.month, 1):
            await create_month(connection, month)
            month = add_months(month, 1)
    started = time.perf_counter()
    async with engine.begin() as connection:
        # Bulk load: triggers (the live feed's notify) and foreign-key checks off for this session only.
        await connection.execute(text("SET session_replication_role = replica"))
        await connection.execute(text("SET maintenance_work_mem = '256MB'"))
        await connection.execute(text(
            "INSERT INTO municipalities (code, prefecture, name) VALUES ('131016', '東京都', '千代田区')"))
        await connection.execute(text(
            "INSERT INTO agencies (id, slug, name, kind) SELECT gen_random_uuid(), 'agency-' || i, 'Agency ' || i, "
            "'municipality' FROM generate_series(1, 20) i"))
        await connection.execute(text(
            "INSERT INTO persons (id, name, name_kana, birth_date, sex, address, municipality_code, "
            "individual_number_ciphertext, individual_number_hash, created_at, number_key_generation, "
            "number_lookup_generation) SELECT gen_random_uuid(), 'P' || i, 'ピー', DATE '1980-01-01', 'male', "
            "'東京都', '131016', sha256(('c' || i)::bytea), sha256(('h' || i)::bytea), now(), 1, 1 "
            "FROM generate_series(1, :people) i"), {"people": people})
        await connection.execute(text(
            "CREATE TEMP TABLE bench_people AS SELECT row_number() OVER () AS n, id FROM persons"))
        await connection.execute(text(
            "CREATE TEMP TABLE bench_agencies AS SELECT row_number() OVER () AS n, id FROM agencies"))
        seconds = YEARS * 365 * 86400
        await connection.execute(text(
            "INSERT INTO exchange_records (id, query_id, requester_agency_id, provider_agency_id, person_id, duty, "
            "item_names, legal_row_id, legal_table_version, requested_at, provided_at, processing_type, outcome, "
            "hidden_until) "
            "SELECT gen_random_uuid(), gen_random_uuid(), ra.id, pa.id, p.id, 'child_allowance', "
            "'[\"local_tax\"]'::json, 'beppyo2:74:1', 'bench', t, t + interval '1 second', 'copy', 'provided', "
            "CASE WHEN i % 97 = 0 THEN now() + interval '30 days' END "
            "FROM generate_series(1, :records) i "
            "CROSS JOIN LATERAL (SELECT now() - make_interval(secs => (i::bigint * 7919 % :seconds)) AS t) times "
            "JOIN bench_people p ON p.n = 1 + (i * 31 % :people) "
            "JOIN bench_agencies ra ON ra.n = 1 + i % 20 JOIN bench_agencies pa ON pa.n = 1 + (i / 20) % 20"),
            {"records": records, "seconds": seconds, "people": people})
        await connection.execute(text(
            "INSERT INTO access_records (id, actor_person_id, subject_person_id, purpose, accessed_at) "
            "SELECT gen_random_uuid(), a.id, p.id, 'proxy:profile', now() - make_interval(secs => (i::bigint * 104729 "
            "% :seconds)) FROM generate_series(1, :reads) i JOIN bench_people p ON p.n = 1 + (i * 17 % :people) "
            "JOIN bench_people a ON a.n = 1 + ((i + 1) * 17 % :people)"),
            {"reads": records // 10, "seconds": seconds, "people": people})
    loaded = time.perf_counter() - started
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE exchange_records"))
        await connection.execute(text("VACUUM ANALYZE access_records"))
        await connection.execute(text("VACUUM ANALYZE persons"))
    print(f"loaded {records:,} exchange records and {records // 10:,} access records for {people:,} people "
          f"in {loaded:.0f} s (+ analyse {time.perf_counter() - started - loaded:.0f} s)", flush=True)
    await engine.dispose()


async def measure(url: str, reads: int, prepare_threshold: int | None) -> None:
    connect_args: dict[str, object] = {} if prepare_threshold is None else {"prepare_threshold": prepare_threshold}
    if GENERIC:
        connect_args["options"] = "-c plan_cache_mode=force_generic_plan"
    engine = create_engine(url, connect_args=connect_args)
    factory = create_session_factory(engine, read_only=True)
    async with engine.connect() as connection:
        people = [row[0] for row in await connection.execute(text("SELECT id FROM persons"))]
        total = await connection.scalar(text("SELECT count(*) FROM exchange_records"))
    rng = random.Random(17)
    firsts: list[float] = []
    seconds: list[float] = []
    sizes: list[int] = []
    for _ in range(200):  # warm the kept connections and their prepared statements (psycopg, then generic plans)
        page = await own_record_page(engine, rng.choice(people), PageRequest(20, None), now=datetime.now(UTC))
        await own_record_page(engine, rng.choice(people), PageRequest(20, decode_cursor(page.items[-1][0])),
                              now=datetime.now(UTC))
    filtered: list[float] = []
    since = datetime.now(UTC).replace(year=datetime.now(UTC).year - 2)
    for _ in range(reads):
        person: uuid.UUID = rng.choice(people)
        started = time.perf_counter()
        page = await own_record_page(engine, person, PageRequest(20, None), now=datetime.now(UTC))
        firsts.append((time.perf_counter() - started) * 1000)
        sizes.append(len(page.items))
        if page.has_next_page:
            started = time.perf_counter()
            await own_record_page(engine, person, PageRequest(20, decode_cursor(page.items[-1][0])),
                                  now=datetime.now(UTC))
            seconds.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        async with factory() as session:  # a filtered page (or another's record): the ORM path in a transaction
            await record_page(session, person, PageRequest(20, None), RecordFilter(since=since),
                              now=datetime.now(UTC))
        filtered.append((time.perf_counter() - started) * 1000)
    await engine.dispose()

    def line(name: str, values: list[float]) -> str:
        q = statistics.quantiles(values, n=100)
        return f"{name}: n={len(values)} p50 {q[49]:.2f} ms, p95 {q[94]:.2f} ms, p99 {q[98]:.2f} ms"

    print(f"{total:,} exchange records; pages of {min(sizes)}..{max(sizes)} rows")
    print(line("first page (20 rows)", firsts))
    print(line("next page by cursor", seconds))
    print(line("filtered page (since 2 years; ORM path)", filtered))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--prepare-threshold", type=int, default=None,
                        help="psycopg's prepare_threshold for the reads (default: the driver's, 5)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()
    name = f"mynaportal_bench_records_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    with admin.connect() as connection:  # type: ignore[attr-defined]
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0] + f"/{name}"
    try:
        asyncio.run(migrate(make_settings(url)))
        asyncio.run(load(url, args.records, args.people))
        asyncio.run(measure(url, args.reads, args.prepare_threshold))
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            with admin.connect() as connection:  # type: ignore[attr-defined]
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
