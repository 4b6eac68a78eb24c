"""Payments benchmark (a script, not collected by pytest). Loopback only, bounded.

1. End to end through the sandbox gateway: the gateway (`mynaportal dev-payment-gateway`, state in the
   same database) and the portal (`mynaportal serve`) each run as their own processes; this one is the
   clients. Each payment = GraphQL paymentStart over HTTP (idempotency key, gateway session) + the hosted
   form submitted like a browser + the gateway's signed notifications back to the portal; it is complete
   when the database says `success` (order paid, ledger posted, callback queued). Prints payments completed per second,
   latencies (p50/p99 of the payer's two requests, and of paymentStart → success recorded), and where the time
   went: each server's CPU per payment, its time waiting for a CPU (run-queue delay, /proc/<pid>/schedstat: on a
   loaded machine a process can be runnable and not running), PostgreSQL's backends' CPU and its transactions
   per payment (pg_stat_database), and the load average.
2. Reconciliation of one agency's day of N payments (default 100,000): ledger journals bulk-inserted,
   a settlement CSV of the same day generated with three planted differences; times `reconcile()`
   (ledger query + CSV parse + comparison) and checks it finds exactly the three.

    .venv/bin/python tests/benchmarks/bench_payments.py [--database sqlite|postgresql] [--payments 200]
        [--concurrency 16] [--reconcile 100000 (0: none)] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from api.agencies.credentials import agency_by_slug, issue_agency_key  # noqa: E402
from api.agencies.models import AgencyPersonCode  # noqa: E402
from api.demo import seed_demo  # noqa: E402
from api.identity.tokens import issue_token  # noqa: E402
from api.migrate import migrate  # noqa: E402
from api.people.individual_number import IndividualNumberCipher  # noqa: E402
from api.platform.db import create_engine, create_session_factory  # noqa: E402
from payments import ledger  # noqa: E402
from payments.gateways.sandbox_server import render_settlement  # noqa: E402
from payments.models import LedgerEntry, LedgerJournal, Payment, PaymentState  # noqa: E402
from payments.reconciliation import reconcile  # noqa: E402
from tests.benchmarks.process_cpu import postgres_cpu, tree_cpu  # noqa: E402
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings  # noqa: E402
from tests.payments.conftest import (  # noqa: E402
    child_env,
    free_port,
    mynaportal,
    wait_until_up,
)
from tests.payments.helpers import global_id  # noqa: E402

STATS_SETTLE_SECONDS = 11.0
RETRIED = ("GATEWAY_UNAVAILABLE", "HTTP 503")  # the gateway did not answer in time; the portal shed load
STARTUP_SECONDS = 120.0  # a loaded machine starts the servers slowly
REDIS_URL = os.environ.get("MYNAPORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START = """mutation S($orderId: ID!, $key: String!) {
  paymentStart(orderId: $orderId, method: CARD, idempotencyKey: $key) { id nextUrl }
}"""


async def database(kind: str) -> tuple[str, object]:
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-payments-")
        url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        cleanup = None
    else:
        from sqlalchemy import create_engine as sync_engine

        admin_url = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
        name = f"bench_payments_{uuid.uuid4().hex[:8]}"
        admin = sync_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{admin_url.rsplit('/', 1)[0]}/{name}"

        def cleanup() -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    await migrate(make_settings(url))
    return url, cleanup


def start_gateway(port: int, url: str, workers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(mynaportal("dev-payment-gateway", "--port", str(port), "--database-url", url,
                                       "--workers", str(workers)), env=child_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_portal(port: int, url: str, gateway_url: str, workers: int) -> subprocess.Popen[bytes]:
    shared = {"MYNAPORTAL_RATE_LIMIT_STORAGE": REDIS_URL} if workers > 1 else {}  # serve refuses N workers otherwise
    env = child_env(MYNAPORTAL_DATABASE_URL=url, MYNAPORTAL_PUBLIC_URL=f"http://127.0.0.1:{port}",
                    MYNAPORTAL_PAYMENT_GATEWAY_URL=gateway_url, MYNAPORTAL_LOG_LEVEL="WARNING", **shared)
    return subprocess.Popen(mynaportal("serve", "--port", str(port), "--workers", str(workers)), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants (uvicorn's workers), from /proc."""
    return tree_cpu(pid)


def runqueue_seconds(pid: int) -> float:
    """Time the process tree's threads spent runnable but waiting for a CPU (schedstat's second field)."""
    return sum(_tree(pid, _runqueue))


def _runqueue(pid: int) -> float:
    return sum(int((task / "schedstat").read_text().split()[1]) for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9


def _tree(pid: int, measure: Any) -> list[float]:
    values, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            values.append(measure(current))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return values


async def database_side(factory: Any) -> tuple[int, float]:
    """(transactions committed in this database so far, read-only ones and autocommit reads included; CPU seconds of
    the PostgreSQL server so far, tests.benchmarks.process_cpu): PostgreSQL's share of the work.
    An idle backend reports its counts within 10 s (PGSTAT_IDLE_INTERVAL): wait that long for them to settle."""
    await asyncio.sleep(STATS_SETTLE_SECONDS)
    async with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            return 0, 0.0
        commits = await session.scalar(text(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
    # The whole server's, reaped backends included (a backend that closed its connection mid-run counts too).
    return int(commits), postgres_cpu()


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.50):.0f} ms, p99 {pick(0.99):.0f} ms"


async def end_to_end(url: str, payments: int, concurrency: int, workers: int) -> None:
    """Portal (``mynaportal serve``) and gateway each in their own processes; this process is only the clients,
    so the CPU each server spent per payment is read from /proc around the timed part."""
    gateway_port, portal_port = free_port(), free_port()
    gateway_url, public_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{portal_port}"
    gateway = start_gateway(gateway_port, url, workers)
    portal = start_portal(portal_port, url, gateway_url, workers)
    engine = create_engine(url)
    try:
        wait_until_up(f"{gateway_url}/healthz", gateway, seconds=STARTUP_SECONDS)
        wait_until_up(f"{public_url}/healthz", portal, seconds=STARTUP_SECONDS)
        factory = create_session_factory(engine)
        cipher = IndividualNumberCipher(TEST_DATA_KEY, TEST_LOOKUP_KEY)
        async with factory() as session, session.begin():
            father = (await seed_demo(session, cipher)).people[0]
            token = await issue_token(session, father, ttl=timedelta(hours=1))
            agency = await agency_by_slug(session, "kojimachi-tax-office")
            assert agency is not None
            key = await issue_agency_key(session, agency.id, label="bench")
            code = await session.scalar(select(AgencyPersonCode.code).where(
                AgencyPersonCode.agency_id == agency.id, AgencyPersonCode.person_id == father))
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=public_url, timeout=60, limits=limits) as client:
            due = (date.today() + timedelta(days=30)).isoformat()
            order_ids = []
            for index in range(payments):
                response = await client.post("/payments/v1/orders", json={
                    "person_code": code, "amount": 1_000 + index, "purpose": "bench", "due_date": due,
                    "reference": f"B-{index}"}, headers={"authorization": f"Bearer {key}",
                                                         "idempotency-key": f"bench-{index}"})
                order_ids.append(response.json()["order_id"])
            limit = asyncio.Semaphore(concurrency)
            latencies: list[float] = []
            retried: Counter[str] = Counter()

            async def pay(order_id: str) -> None:
                async with limit:
                    asked, key = time.perf_counter(), str(uuid.uuid4())
                    while True:  # as the API asks: a refusal worth retrying is retried with the same key
                        response = await client.post("/graphql", json={"query": START, "variables": {
                            "orderId": global_id("PaymentOrder", order_id), "key": key}},
                            headers={"authorization": f"Bearer {token}"})
                        answer = response.json() if response.status_code != 503 else {"errors": [
                            {"extensions": {"code": "HTTP 503"}}]}
                        if answer.get("data") and answer["data"]["paymentStart"]:
                            break
                        code = answer["errors"][0]["extensions"]["code"]
                        if code not in RETRIED:
                            raise RuntimeError(f"paymentStart refused: {answer['errors']}")
                        retried[code] += 1
                        await asyncio.sleep(0.5)
                    started = answer["data"]["paymentStart"]
                    submitted = await client.post(started["nextUrl"], data={
                        "card_number": "4242424242424242", "expiry": "12/30", "cvc": "123", "action": "pay"})
                    assert submitted.status_code == 303
                    latencies.append(time.perf_counter() - asked)

            portal_cpu, gateway_cpu = cpu_seconds(portal.pid), cpu_seconds(gateway.pid)
            portal_wait, gateway_wait = runqueue_seconds(portal.pid), runqueue_seconds(gateway.pid)
            commits, database_cpu = await database_side(factory)
            client_cpu, began = time.process_time(), time.perf_counter()
            await asyncio.gather(*(pay(order_id) for order_id in order_ids))
            submitted_at = time.perf_counter()
            while True:
                async with factory() as session:
                    done = await session.scalar(select(func.count()).select_from(Payment).where(
                        Payment.state == PaymentState.SUCCESS))
                if done == payments or time.perf_counter() - began > 300:
                    break
                await asyncio.sleep(0.02)
            elapsed, client_cpu = time.perf_counter() - began, time.process_time() - client_cpu
            portal_cpu, gateway_cpu = cpu_seconds(portal.pid) - portal_cpu, cpu_seconds(gateway.pid) - gateway_cpu
            portal_wait = runqueue_seconds(portal.pid) - portal_wait
            gateway_wait = runqueue_seconds(gateway.pid) - gateway_wait
            commits_after, database_cpu_after = await database_side(factory)
            async with factory() as session:
                spans = [(finished - created).total_seconds() for created, finished in (await session.execute(
                    select(Payment.created_at, Payment.finished_at).where(Payment.state == PaymentState.SUCCESS)))]
        per = 1000 / payments
        print(f"end to end ({workers} portal and {workers} gateway process(es)): {done}/{payments} payments "
              f"succeeded in {elapsed:.2f} s (all forms submitted after {submitted_at - began:.2f} s), concurrency "
              f"{concurrency}: {done / elapsed:.1f} payments/s")
        if retried:
            print(f"  paymentStart retried with the same key: {dict(retried)}")
        print(f"  latency: payer's two requests {percentiles(latencies)}; paymentStart to success recorded "
              f"{percentiles(spans)}")
        print(f"  per payment: CPU portal {portal_cpu * per:.1f} ms, gateway {gateway_cpu * per:.1f} ms, PostgreSQL "
              f"backends {(database_cpu_after - database_cpu) * per:.1f} ms (this client {client_cpu * per:.1f} ms); "
              f"waiting for a CPU (run queue) portal "
              f"{portal_wait * per:.1f} ms, gateway {gateway_wait * per:.1f} ms; PostgreSQL "
              f"transactions {(commits_after - commits) / payments:.1f}; load average {os.getloadavg()[0]:.2f}")
    finally:
        await engine.dispose()
        for process in (portal, gateway):
            process.terminate()
            process.wait(timeout=10)


async def reconciliation(url: str, count: int) -> None:
    engine = create_engine(url)
    factory = create_session_factory(engine)
    day = date(2026, 4, 1)
    async with factory() as session, session.begin():
        agency = await agency_by_slug(session, "kojimachi-tax-office")
        assert agency is not None
    began = time.perf_counter()
    rows = []
    for start in range(0, count, 10_000):
        journals, entries = [], []
        for index in range(start, min(count, start + 10_000)):
            journal_id, reference, amount = uuid.uuid4(), f"gws_bench_{index:07d}", 1_000 + index % 5_000
            journals.append({"id": journal_id, "event_key": f"payment:bench:{index}", "kind": "payment",
                             "agency_id": agency.id, "booked_on": day, "created_at": ledger.datetime.now(ledger.JST)})
            entries += [{"id": uuid.uuid4(), "journal_id": journal_id, "account": ledger.GATEWAY_CLEARING,
                         "amount": amount, "reference": reference},
                        {"id": uuid.uuid4(), "journal_id": journal_id, "account": ledger.AGENCY_COLLECTIONS,
                         "amount": -amount, "reference": reference}]
            fee = amount // 100
            rows.append({"settlement_date": day.isoformat(), "merchant": str(agency.id), "type": "payment",
                         "gateway_reference": reference, "merchant_reference": str(index), "amount": amount,
                         "fee": fee, "net": amount - fee, "captured_at": ""})
        async with factory() as session, session.begin():
            await session.execute(insert(LedgerJournal), journals)
            await session.execute(insert(LedgerEntry), entries)
    rows[7]["amount"] += 1  # planted: an amount mismatch,
    del rows[11]  # a payment the gateway did not settle,
    rows.append({**rows[0], "gateway_reference": "gws_unknown", "merchant_reference": "x"})  # one we never booked
    settlement = render_settlement(rows)
    generated = time.perf_counter() - began
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        async with factory() as session:
            report = await reconcile(session, agency.id, day, settlement)
        timings.append(time.perf_counter() - began)
    await engine.dispose()
    assert len(report.differences) == 3, report.differences
    print(f"reconciliation: {count:,} payments (ledger {report.ledger_count:,} references, settlement "
          f"{report.settlement_count:,} lines, {len(settlement) / 1e6:.1f} MB CSV) -> {len(report.differences)} "
          f"differences; best of 3 {min(timings):.2f} s, worst {max(timings):.2f} s "
          f"(bulk generation {generated:.1f} s, not counted)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--reconcile", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="portal (and gateway) processes")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, database {args.database}")
    url, cleanup = await database(args.database)
    try:
        await end_to_end(url, args.payments, args.concurrency, args.workers)
        if args.reconcile:  # 0: the end-to-end figure alone
            await reconciliation(url, args.reconcile)
    finally:
        if cleanup:
            cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    asyncio.run(main())
