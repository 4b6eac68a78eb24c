"""Notices benchmark (a runnable script, not collected by pytest). Everything runs on loopback.

1. Per-message RFC 8291 encryption cost of `webpush` (the library we send with) and of `pywebpush`
   (``WebPusher.encode``), same 60-byte payload, same subscription, best of 5 rounds.
2. Fan-out: one notice to N subscriptions (default 100,000: 5,000 people × 20 devices) through the local
   push service (`mynaportal dev-push-service`, TLS, VAPID check and decryption of every message) with
   `mynaportal worker` processes; messages/s from the worker's start to the last delivery committed, and the
   workers' CPU per message.
3. The `Notices` GraphQL query (20 per page, through the ASGI app) with 1,000,000 notices stored: p50/p99.

    .venv/bin/python tests/benchmarks/bench_notices.py [--subscriptions 100000] [--notices 1000000]
        [--workers 1] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import resource
import secrets
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.agencies.models import Agency, AgencyKind  # noqa: E402
from api.identity.tokens import issue_token  # noqa: E402
from api.migrate import migrate  # noqa: E402
from api.notices.models import Audience, Category, Notice, NoticeRecipient, Priority  # noqa: E402
from api.notices.segments import Segment  # noqa: E402
from api.notices.service import NewNotice, publish_notice  # noqa: E402
from api.people.models import Municipality, Person, Sex  # noqa: E402
from api.platform.db import create_engine, create_session_factory, utcnow  # noqa: E402
from push.models import PushSubscription  # noqa: E402
from push.vapid import current_key, vapid_box  # noqa: E402
from tests.benchmarks.process_cpu import postgres_cpu, tree_cpu  # noqa: E402
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings  # noqa: E402

PAYLOAD = json.dumps({"v": 1, "notice": str(uuid.uuid4()), "category": "tax"}, separators=(",", ":")).encode()
MUNICIPALITY = "131016"
DEVICES_PER_PERSON = 20


def bench_encryption(rounds: int = 5, per_round: int = 2000) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from pywebpush import WebPusher

    from push.encryption import encrypt
    from push.vapid import b64url

    private = ec.generate_private_key(ec.SECP256R1())
    p256dh = b64url(private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    auth = b64url(secrets.token_bytes(16))
    endpoint = "https://push.example/x"
    pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})

    from webpush import WebPush
    from webpush.types import WebPushKeys, WebPushSubscription

    library = WebPush.__new__(WebPush)  # its encryption step alone (no VAPID key needed for it)
    library.max_resord_size = 4096
    subscription = WebPushSubscription(endpoint=endpoint, keys=WebPushKeys(p256dh=p256dh, auth=auth))
    contenders = {
        "ours (push.encryption.encrypt: webpush + our checks)": lambda: encrypt(
            PAYLOAD, endpoint=endpoint, p256dh=p256dh, auth=auth),
        "pywebpush (WebPusher.encode, aes128gcm)": lambda: pusher.encode(PAYLOAD, content_encoding="aes128gcm"),
        "webpush (WebPush._encrypt alone)": lambda: library._encrypt(PAYLOAD, subscription),
    }
    # Interleaved rounds, best of each: the machine is shared, and a load spike then hits every contender alike.
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, function in contenders.items():
            started = time.process_time()
            for _ in range(per_round):
                function()
            times[name].append((time.process_time() - started) / per_round * 1e6)
    print(f"encryption, {len(PAYLOAD)}-byte payload, CPU time per message, best of {rounds} interleaved rounds "
          f"of {per_round}:")
    for name, spent in times.items():
        print(f"  {name:55s} {min(spent):7.1f} µs/message")
    ours, theirs = (min(spent) for spent in list(times.values())[:2])
    print(f"  ratio ours / pywebpush: {ours / theirs:.2f}")


async def seed_people(factory: object, people: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(people)]
    async with factory() as session, session.begin():  # type: ignore[operator]
        session.add(Municipality(code=MUNICIPALITY, prefecture="東京都", name="千代田区"))
        await session.flush()  # no ORM relationships: parents first
        session.add(Agency(slug="chiyoda-city", name="千代田区", kind=AgencyKind.MUNICIPALITY,
                           municipality_code=MUNICIPALITY))
        await session.flush()
        now = utcnow()
        for start in range(0, people, 5000):
            await session.execute(insert(Person), [
                {"id": pid, "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "birth_date": date(1985, 4, 1),
                 "sex": Sex.MALE, "address": "東京都千代田区", "municipality_code": MUNICIPALITY,
                 "individual_number_ciphertext": secrets.token_bytes(40),
                 "individual_number_hash": secrets.token_bytes(32), "created_at": now}
                for pid in ids[start:start + 5000]])
    return ids


HTTP2 = False  # --http2: the workers push over HTTP/2
CODE = ROOT  # whose push service and worker run: --code gives another checkout (the same run's baseline)
PROFILE: Path | None = None  # --profile DIR: each worker runs under cProfile and writes DIR/worker-<pid>.prof


def start(*command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    runner = ["-c", "from api.cli import main; main()"]
    if PROFILE is not None and command[0] == "worker":
        # CPU time, not wall time: on a loaded machine a wall-clock profile charges waiting to whatever ran last.
        output = PROFILE / f"worker-{os.getpid()}-{time.monotonic_ns()}.prof"
        runner = ["-c", "import cProfile, sys, time; from api.cli import main; sys.argv[0] = 'mynaportal'; "
                        f"profile = cProfile.Profile(time.process_time); profile.runcall(main); "
                        f"profile.dump_stats({str(output)!r})"]
    return subprocess.Popen([sys.executable, *runner, *command],
                            env={**env, "PYTHONPATH": str(CODE)}, cwd=CODE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


async def bench_fan_out(url: str, subscriptions: int, workers: int, workdir: Path) -> None:
    people = subscriptions // DEVICES_PER_PERSON
    port = 18443
    env = {**os.environ, "MYNAPORTAL_DATABASE_URL": url, "MYNAPORTAL_LOG_LEVEL": "WARNING",
           "MYNAPORTAL_DATA_KEY": base64.b64encode(TEST_DATA_KEY).decode(),
           "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(TEST_LOOKUP_KEY).decode(),
           "MYNAPORTAL_DEMO_KEYS_FILE": str(workdir / "keys.json"),
           "MYNAPORTAL_PUSH_CA_FILE": str(workdir / "tls" / "push-service.crt")}
    service = start("dev-push-service", "--port", str(port), "--cert-dir", str(workdir / "tls"), env=env)
    engine = create_engine(url, poolclass=NullPool)
    factory = create_session_factory(engine)
    try:
        person_ids = await seed_people(factory, people)
        for _ in range(600):  # the service writes its certificate, then listens
            if (workdir / "tls" / "push-service.crt").exists():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    pass
            await asyncio.sleep(0.1)
        context = ssl.create_default_context(cafile=str(workdir / "tls" / "push-service.crt"))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=600) as client:
            started = time.perf_counter()
            created = (await client.post("/subscriptions", json={"count": subscriptions})).json()["subscriptions"]
            print(f"fan-out: {subscriptions} subscriptions created at the push service in "
                  f"{time.perf_counter() - started:.1f} s")
            async with factory() as session, session.begin():
                key = await current_key(session, vapid_box(TEST_DATA_KEY))
                now = utcnow()
                rows = [{"id": uuid.uuid4(), "person_id": person_ids[i // DEVICES_PER_PERSON],
                         "endpoint": sub["endpoint"], "p256dh": sub["keys"]["p256dh"], "auth": sub["keys"]["auth"],
                         "vapid_generation": key.generation, "device_label": "bench", "created_at": now}
                        for i, sub in enumerate(created)]
                for chunk in range(0, len(rows), 5000):
                    await session.execute(insert(PushSubscription), rows[chunk:chunk + 5000])
            async with factory() as session, session.begin():
                agency = await session.scalar(select(Agency.id))
                started = time.perf_counter()
                published = await publish_notice(session, agency, NewNotice(
                    Audience.SEGMENT, Category.DISASTER, "避難指示", "避難してください。", Priority.HIGH,
                    segment=Segment(municipality_code=MUNICIPALITY)), now=utcnow(), today=date.today())
            print(f"fan-out: publish (notice + {published.notice.recipient_count} recipients + outbox rows, "
                  f"one transaction): {time.perf_counter() - started:.2f} s")
            started = time.perf_counter()
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            service_before, database_before = tree_cpu(service.pid), postgres_cpu() if "postgresql" in url else 0.0
            http2 = ["--http2"] if HTTP2 else []
            procs = [start("worker", "--once", "--batch", "1000", "--concurrency", "64", "--lease", "120", *http2,
                           env=env) for _ in range(workers)]
            for proc in procs:
                proc.wait(timeout=1800)
            elapsed = time.perf_counter() - started
            children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, reaped (the service runs on)
            sender_cpu = (children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime)
            service_cpu = tree_cpu(service.pid) - service_before
            database_cpu = postgres_cpu() - database_before if "postgresql" in url else 0.0
            stats = (await client.get("/stats")).json()
        async with engine.connect() as connection:
            delivered = await connection.scalar(text("SELECT count(*) FROM notice_deliveries "
                                                     "WHERE state = 'delivered'"))
        per_message = stats["per_message"].values()
        print(f"fan-out: {workers} worker process(es): {delivered} delivered in {elapsed:.1f} s = "
              f"{delivered / elapsed:,.0f} messages/s (push service accepted {stats['accepted']}, "
              f"max per message {max(per_message)}, requests {stats['requests']}, connections by HTTP version "
              f"{stats.get('connections_by_http_version', 'not counted')}); sender CPU (worker processes, "
              f"database work included) "
              f"{sender_cpu / max(delivered, 1) * 1000:.3f} ms/message")
        # The machine's whole budget: at R messages/s on C cores, sender + push service + database get C/R
        # seconds of CPU per message between them.
        print(f"fan-out: CPU per message besides the sender: the local push service (TLS, VAPID check, "
              f"decryption) {service_cpu / max(delivered, 1) * 1000:.3f} ms, the PostgreSQL server "
              f"{database_cpu / max(delivered, 1) * 1000:.3f} ms (0 on SQLite: in the worker); all three "
              f"{(sender_cpu + service_cpu + database_cpu) / max(delivered, 1) * 1000:.3f} ms against "
              f"the {os.cpu_count() or 1} cores' {os.cpu_count() or 1} ms per message at 1,000 messages/s")
        for proc in procs:
            lines = proc.stdout.read().decode().strip().splitlines()  # type: ignore[union-attr]
            print("  ", *(lines[-1:] if proc.returncode == 0 else lines[-25:]), sep="\n   ")
    finally:
        service.terminate()
        service.wait(timeout=30)
        await engine.dispose()


async def bench_query(url: str, notices: int, samples: int) -> None:
    from api.app import create_app

    engine = create_engine(url, poolclass=NullPool)
    factory = create_session_factory(engine)
    people = 10_000
    async with factory() as session:
        stored = await session.scalar(select(func.count()).select_from(Notice))
        person_ids = list(await session.scalars(select(Person.id).order_by(Person.id)))
    if stored:
        notices = 0  # a kept database (--workdir) already holds them
        print(f"query: reusing {stored:,} stored notices")
    else:
        person_ids = await seed_people(factory, people)
    async with factory() as session:
        agency = await session.scalar(select(Agency.id))
    started = time.perf_counter()
    base = datetime(2025, 1, 1, tzinfo=UTC)
    categories = list(Category)
    chunk = 10_000
    for offset in range(0, notices, chunk):
        notice_rows, recipient_rows = [], []
        for n in range(offset, min(offset + chunk, notices)):
            notice_id = uuid.uuid4()
            published = base + timedelta(seconds=n * 30)
            category = categories[n % len(categories)]
            notice_rows.append({"id": notice_id, "agency_id": agency, "audience": Audience.PERSON,
                                "category": category, "priority": Priority.NORMAL, "title": f"お知らせ {n}",
                                "body": "本文" * 20, "publish_at": published, "recipient_count": 1,
                                "created_at": published})
            recipient_rows.append({"notice_id": notice_id, "person_id": person_ids[n % people],
                                   "publish_at": published, "category": category,
                                   "read_at": published if n % 3 == 0 else None})
        async with factory() as session, session.begin():
            await session.execute(insert(Notice), notice_rows)
            await session.execute(insert(NoticeRecipient), recipient_rows)
    if notices:
        print(f"query: {notices:,} notices over {people:,} people inserted in {time.perf_counter() - started:.0f} s")
    async with factory() as session, session.begin():
        tokens = [await issue_token(session, pid, ttl=timedelta(hours=1)) for pid in person_ids[:50]]
    app = create_app(make_settings(url), owns_process=False)
    document = (ROOT / "graphql" / "operations" / "phone" / "Notices.graphql").read_text()
    variants = [{"first": 20}, {"first": 20, "unread": True}, {"first": 20, "category": "TAX"}]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        durations = []
        for i in range(samples + 20):
            began = time.perf_counter()
            response = await client.post("/graphql", json={"query": document, "variables": variants[i % 3]},
                                         headers={"authorization": f"Bearer {tokens[i % len(tokens)]}"})
            took = time.perf_counter() - began
            body = response.json()
            assert "errors" not in body, body
            if i >= 20:  # warm-up excluded
                durations.append(took * 1000)
    durations.sort()
    p99 = durations[int(len(durations) * 0.99) - 1]
    print(f"query: Notices (20 per page; plain, unread, category) over {samples} requests through the ASGI app: "
          f"p50 {statistics.median(durations):.1f} ms, p99 {p99:.1f} ms, max {durations[-1]:.1f} ms")
    await app.state.engine.dispose()
    await engine.dispose()


CREATED: list[str] = []  # PostgreSQL databases this run made, dropped at its end


async def drop_created() -> None:
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", poolclass=NullPool,
                          isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        for database in CREATED:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    await admin.dispose()


async def fresh_database(kind: str, workdir: Path, name: str) -> str:
    if kind == "sqlite":
        path = workdir / f"{name}.sqlite3"
        if name == "fanout":
            path.unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", poolclass=NullPool,
                              isolation_level="AUTOCOMMIT")
        database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{database}"'))
        await admin.dispose()
        CREATED.append(database)
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    await migrate(make_settings(url))
    return url


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--notices", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workdir", help="keep the databases here (the 1M-notice one is reused next time)")
    parser.add_argument("--skip", action="append", default=[], choices=("encryption", "fan-out", "query"))
    parser.add_argument("--code", type=Path, help="run the push service and workers from this checkout (e.g. "
                        "`git archive <baseline> | tar -x -C /tmp/base`), for the same run's baseline")
    parser.add_argument("--http2", action="store_true", help="workers push over HTTP/2 (mynaportal worker --http2)")
    parser.add_argument("--profile", type=Path, help="run the workers under cProfile, writing DIR/worker-*.prof")
    args = parser.parse_args()
    global CODE, HTTP2, PROFILE
    PROFILE = args.profile
    if PROFILE is not None:
        PROFILE.mkdir(parents=True, exist_ok=True)
    CODE = (args.code or ROOT).resolve()
    HTTP2 = args.http2
    print(f"push service and workers from {CODE}")
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"database {args.database}")
    if "encryption" not in args.skip:
        bench_encryption()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(args.workdir or folder)
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (setup, before any work)
        try:
            if "fan-out" not in args.skip:
                await bench_fan_out(await fresh_database(args.database, workdir, "fanout"), args.subscriptions,
                                    args.workers, workdir)
            if "query" not in args.skip:
                await bench_query(await fresh_database(args.database, workdir, "query"), args.notices,
                                  args.samples)
        finally:
            if not args.workdir:
                await drop_created()


if __name__ == "__main__":
    asyncio.run(main())
