"""`viewer` (GraphQL, persisted by hash) and `/corporate/4/num` at 1 and 2 uvicorn workers on PostgreSQL, through
`mynaportal serve --workers N` on loopback with the rate limits in Redis (as a multi-worker deployment runs).

    .venv/bin/python tests/benchmarks/bench_workers.py [--seconds 5] [--connections 32] [--workers 1,2]

Needs `wrk`, PostgreSQL (MYNAPORTAL_TEST_POSTGRES_URL's server) and Redis (127.0.0.1:6379). The servers and
wrk share this machine's cores: with 2 cores, 2 workers and wrk compete, so the second worker's gain is
bounded by what wrk leaves free.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from bench_graphql_viewer import BIN, ROOT, VIEWER, free_port, wrk
from sqlalchemy import create_engine, text

SERVER = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # a loaded machine starts workers slowly
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


def admin(statement: str) -> None:
    engine = create_engine(SERVER.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def wrk_get(url: str, seconds: int, connections: int) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed responses from {url}")
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    name = f"mynaportal_bench_workers_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            env = {**os.environ, "MYNAPORTAL_DATABASE_URL": SERVER.rsplit("/", 1)[0] + "/" + name,
                   "MYNAPORTAL_DEMO_KEYS_FILE": str(workdir / "keys.json"), "MYNAPORTAL_LOG_LEVEL": "WARNING",
                   "MYNAPORTAL_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379/0",
                   "MYNAPORTAL_RATE_LIMIT_PREFIX": name, "MYNAPORTAL_CORPORATE_RATE": "1000000",
                   "MYNAPORTAL_CORPORATE_BURST": "1000000", "PYTHONPATH": str(ROOT)}
            for command in (["migrate"], ["demo-seed"], ["corporate", "demo-load"]):
                subprocess.run([BIN / "mynaportal", *command], env=env, check=True, capture_output=True)
            token = subprocess.run([BIN / "mynaportal", "token", "--quiet", "--ttl", "3600"], env=env, check=True,
                                   capture_output=True, text=True).stdout.strip()
            app_id = subprocess.run([BIN / "mynaportal", "corporate", "app-id", "create", "Bench KK"], env=env,
                                    check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            by_hash = {"extensions": {"persistedQuery": {"version": 1,
                                                         "sha256Hash": hashlib.sha256(VIEWER.encode()).hexdigest()}}}
            print(f"PostgreSQL, {args.connections} connections, {args.seconds} s each, wrk -t1 on the same machine")
            for workers in (int(each) for each in args.workers.split(",")):
                port = free_port()
                server = subprocess.Popen([BIN / "mynaportal", "serve", "--port", str(port), "--workers",
                                           str(workers)], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE)
                try:
                    base = f"http://127.0.0.1:{port}"
                    wait_ready(f"{base}/readyz", server)
                    check = httpx.post(f"{base}/graphql", json=by_hash,
                                       headers={"authorization": f"Bearer {token}"}).json()
                    assert check["data"]["viewer"]["name"] == "山田 太郎", check
                    number = "1000012160145"  # in the demo files (Aomori)
                    num = f"{base}/corporate/4/num?id={app_id}&number={number}&type=21"
                    found = httpx.get(num)
                    assert found.status_code == 200 and number in found.text, found.text[:200]
                    wrk(f"{base}/graphql", by_hash, token, 1, args.connections, workdir)  # warm every worker
                    rate, p50, _ = wrk(f"{base}/graphql", by_hash, token, args.seconds, args.connections, workdir)
                    print(f"  viewer           workers={workers}: {rate:8.0f} req/s  p50 {p50}")
                    wrk_get(num, 1, args.connections)
                    rate, p50 = wrk_get(num, args.seconds, args.connections)
                    print(f"  /corporate/4/num workers={workers}: {rate:8.0f} req/s  p50 {p50}")
                finally:
                    server.terminate()
                    server.wait(timeout=30)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
