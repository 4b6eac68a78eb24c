"""Exchange benchmark (a script, not collected by pytest): exchanges through the hub over HTTP on PostgreSQL.

`mynaportal serve` (uvicorn) on loopback against a fresh PostgreSQL database with the demo data; wrk runs several
concurrent requesters (connections) posting `/exchange/requests`: Chiyoda asks Yokohama for the demo father's
地方税関係情報 for 児童手当. Each exchange = the agency key checked, the code mapping (requester's code ->
person -> provider's code), the legal-table check, the answer from the provider's copy, and one exchange record
inserted with its leaf queued on the transparency log (api.records), in one transaction. Prints exchanges/s, p50
and p99, and checks that the records written are at least the exchanges answered.

The database's own ceiling: the same SQL statements per exchange (key lookup; mapping join; endpoint and copy
selects; record insert; log-leaf insert; commit), sent by psycopg alone from as many concurrent connections,
in the same run.

    .venv/bin/python tests/benchmarks/bench_exchange.py [--seconds 10] [--connections 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tests.payments.conftest import child_env, free_port  # noqa: E402

BIN = Path(sys.executable).parent
GOAL = 400.0


def create_database() -> tuple[str, str]:
    server = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"bench_exchange_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name, name


def drop_database(name: str) -> None:
    server = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def wrk(url: str, body: dict, headers: dict[str, str], seconds: int, connections: int, workdir: Path
        ) -> tuple[float, int, str, str]:
    """(requests/s, requests served, p50, p99); any non-200 answer fails the run."""
    script = workdir / "post.lua"
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = {json.dumps(json.dumps(body))}\n"
        + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items()))
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed responses:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    served = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1)
    return rate, served, p50, p99


def count_records(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        return int(connection.execute("SELECT count(*) FROM exchange_records").fetchone()[0])


async def psycopg_ceiling(dsn: str, key_hash: bytes, requester: uuid.UUID, code: str, seconds: float,
                          connections: int) -> tuple[float, float, float]:
    """Exchanges/s, p50 and p99 (ms) of the same statements from psycopg alone (no HTTP, no ORM, no Python app)."""
    done = 0
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def one_connection() -> None:
        nonlocal done
        async with await psycopg.AsyncConnection.connect(dsn) as connection:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with connection.transaction():
                    await (await connection.execute(
                        "SELECT agency_id, scopes, revoked_at FROM agency_credentials WHERE key_hash = %s",
                        (key_hash,))).fetchone()
                async with connection.transaction():
                    row = await (await connection.execute(
                        "SELECT a.kind, p.id, p.kind, c.person_id, pc.code FROM agencies a "
                        "LEFT JOIN agencies p ON p.slug = %s "
                        "LEFT JOIN agency_person_codes c ON c.agency_id = a.id AND c.code = %s "
                        "LEFT JOIN agency_person_codes pc ON pc.agency_id = p.id AND pc.person_id = c.person_id "
                        "WHERE a.id = %s", ("yokohama-city", code, requester))).fetchone()
                    provider, person = row[1], row[3]
                    await (await connection.execute(
                        "SELECT item_kind, url FROM exchange_endpoints WHERE provider_agency_id = %s "
                        "AND item_kind = ANY(%s)", (provider, ["local_tax"]))).fetchall()
                    await (await connection.execute(
                        "SELECT item_kind, item_key, value FROM exchange_copies WHERE provider_agency_id = %s "
                        "AND person_id = %s AND item_kind = ANY(%s) ORDER BY item_kind, item_key",
                        (provider, person, ["local_tax"]))).fetchall()
                    await connection.execute(
                        "INSERT INTO exchange_records (id, query_id, requester_agency_id, provider_agency_id, "
                        "person_id, duty, item_names, legal_row_id, legal_table_version, requested_at, provided_at, "
                        "processing_type, outcome) VALUES (%s, %s, %s, %s, %s, 'child_allowance', '[\"local_tax\"]', "
                        "'beppyo2:74:1', 'bench', now(), now(), 'copy', 'provided')",
                        (uuid.uuid4(), uuid.uuid4(), requester, provider, person))
                    leaf = b'{"bench":"' + uuid.uuid4().hex.encode() + b'"}'
                    await connection.execute(
                        "INSERT INTO log_leaves (leaf_hash, leaf_data, queued_at) VALUES (%s, %s, now())",
                        (hashlib.sha256(b"\x00" + leaf).digest(), leaf))
                latencies.append(time.perf_counter() - started)
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    latencies.sort()
    elapsed = time.monotonic() - started
    return (done / elapsed, latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16, help="concurrent requesters")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    dsn, name = create_database()
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    port = free_port()
    env = {**child_env(), "MYNAPORTAL_DATABASE_URL": url, "MYNAPORTAL_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT)}
    server = None
    try:
        for command in (["migrate"], ["demo-seed"]):
            subprocess.run([BIN / "mynaportal", *command], env=env, check=True, capture_output=True)
        key = subprocess.run([BIN / "mynaportal", "agency-key", "--agency", "chiyoda-city", "--label", "bench"],
                             env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
        with psycopg.connect(dsn) as connection:
            requester, code = connection.execute(
                "SELECT a.id, c.code FROM agencies a JOIN agency_person_codes c ON c.agency_id = a.id "
                "JOIN persons p ON p.id = c.person_id WHERE a.slug = 'chiyoda-city' AND p.email = %s",
                ("taro@example.jp",)).fetchone()
        server = subprocess.Popen([BIN / "mynaportal", "serve", "--port", str(port), "--workers", str(args.workers)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        body = {"personCode": code, "duty": "child_allowance", "provider": "yokohama-city", "items": ["local_tax"]}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        check = httpx.post(f"{base}/exchange/requests", json=body, headers=headers)
        assert check.status_code == 200 and check.json()["items"][0]["value"]["tax_year"] == 2025, check.text
        with tempfile.TemporaryDirectory() as tmp:
            wrk(f"{base}/exchange/requests", body, headers, 2, args.connections, Path(tmp))  # warm-up
            before = count_records(dsn)
            rate, served, p50, p99 = wrk(f"{base}/exchange/requests", body, headers, args.seconds,
                                         args.connections, Path(tmp))
            recorded = count_records(dsn) - before
        server.terminate()
        server.wait(timeout=10)
        server = None
        from api.platform.auth import hash_token

        ceiling, c50, c99 = asyncio.run(psycopg_ceiling(dsn, hash_token(key), requester, code, args.seconds,
                                                        args.connections))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        drop_database(name)
    print(f"PostgreSQL, {os.cpu_count()} cores shared by uvicorn ({args.workers} workers), wrk and PostgreSQL; "
          f"{args.connections} concurrent requesters, {args.seconds} s")
    print(f"exchanges over HTTP      {rate:8.0f}/s   p50 {p50:>8}   p99 {p99:>8}   ({served} answered, "
          f"{recorded} records written)")
    print(f"psycopg alone, same SQL  {ceiling:8.0f}/s   p50 {c50:6.2f}ms   p99 {c99:6.2f}ms")
    print(f"ratio to the database's ceiling: {rate / ceiling:.3f}")
    print(f"goal ({GOAL:.0f} exchanges/s):", "met" if rate >= GOAL else "NOT met")
    if recorded < served:
        raise SystemExit("fewer records than exchanges answered")


if __name__ == "__main__":
    main()
