"""`viewer` queries per second through uvicorn on loopback (one worker, every limit on), next to a plain
Starlette JSON route served the same way, and their ratio. Goal: at least a quarter of the plain rate.
A third line serves the same data from a plain route that does the viewer's database work, which
separates what GraphQL costs from what the database costs; two more show the floor: an empty query
without a token, and `viewer { __typename }` (the token check and the viewer resolver, no fields).

    .venv/bin/python tests/benchmarks/bench_graphql_viewer.py [--seconds 10] [--connections 32]
        [--database sqlite|postgresql]   (PostgreSQL from MYNAPORTAL_TEST_POSTGRES_URL's server)

Needs `wrk` (Debian package wrk). The server and wrk share this machine's cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VIEWER = (ROOT / "graphql" / "operations" / "phone" / "Viewer.graphql").read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def wrk(url: str, body: dict, token: str | None, seconds: int, connections: int, workdir: Path) -> tuple[float, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    script = workdir / "post.lua"
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = {json.dumps(json.dumps(body))}\n"
        + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items())
        + "errors = 0\nresponse = function(status, headers, body) if status ~= 200 or "
        "string.find(body, '\"errors\"') then errors = errors + 1 end end\n"
    )
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+(\S+)", out).group(1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed responses from {url}")
    return rate, p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        if args.database == "postgresql":
            database_url = create_postgres_database()
        env = {**os.environ, "MYNAPORTAL_DATABASE_URL": database_url,
               "MYNAPORTAL_DEMO_KEYS_FILE": str(workdir / "keys.json"), "MYNAPORTAL_LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT)}
        for command in (["migrate"], ["demo-seed"]):
            subprocess.run([BIN / "mynaportal", *command], env=env, check=True, capture_output=True)
        token = subprocess.run([BIN / "mynaportal", "token", "--quiet", "--ttl", "3600"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()

        portal_port, plain_port = free_port(), free_port()
        servers = [
            subprocess.Popen([BIN / "mynaportal", "serve", "--port", str(portal_port), "--workers", "1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([BIN / "uvicorn", "plain_app:app", "--port", str(plain_port), "--no-access-log",
                              "--log-level", "warning", "--app-dir", str(Path(__file__).parent)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        try:
            portal = f"http://127.0.0.1:{portal_port}/graphql"
            plain = f"http://127.0.0.1:{plain_port}/graphql"
            wait_ready(f"http://127.0.0.1:{portal_port}/healthz")
            wait_ready(plain)
            by_text = {"query": VIEWER}
            by_hash = {"extensions": {"persistedQuery": {"version": 1,
                                                         "sha256Hash": hashlib.sha256(VIEWER.encode()).hexdigest()}}}
            check = httpx.post(portal, json=by_hash, headers={"authorization": f"Bearer {token}"}).json()
            assert check["data"]["viewer"]["name"] == "山田 太郎", check
            wrk(plain, {}, None, 2, args.connections, workdir)  # warm-up
            wrk(portal, by_text, token, 2, args.connections, workdir)
            plain_rate, plain_p50 = wrk(plain, {"query": "{ viewer { name } }"}, None, args.seconds,
                                        args.connections, workdir)
            rest_rate, rest_p50 = wrk(plain.replace("/graphql", "/rest-viewer"), {}, token, args.seconds,
                                      args.connections, workdir)
            text_rate, text_p50 = wrk(portal, by_text, token, args.seconds, args.connections, workdir)
            hash_rate, hash_p50 = wrk(portal, by_hash, token, args.seconds, args.connections, workdir)
            # Where the time goes: the pipeline alone, then with the token check and the viewer resolver.
            empty_rate, empty_p50 = wrk(portal, {"query": "{ __typename }"}, None, args.seconds, args.connections,
                                        workdir)
            bare_rate, bare_p50 = wrk(portal, {"query": "{ viewer { __typename } }"}, token, args.seconds,
                                      args.connections, workdir)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)

    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, uvicorn 1 worker, {args.database}, "
          f"{os.cpu_count()} cores shared by server and wrk")
    print(f"plain Starlette JSON route      {plain_rate:9.0f} req/s  p50 {plain_p50}")
    print(f"plain route, viewer's DB work   {rest_rate:9.0f} req/s  p50 {rest_p50}  ratio {rest_rate / plain_rate:.3f}")
    print(f"viewer (document text)         {text_rate:9.0f} req/s  p50 {text_p50}  ratio {text_rate / plain_rate:.3f}")
    print(f"viewer (persisted hash)        {hash_rate:9.0f} req/s  p50 {hash_p50}  ratio {hash_rate / plain_rate:.3f}")
    for label, rate, p50 in (("{ __typename }, no token", empty_rate, empty_p50),
                             ("{ viewer { __typename } }", bare_rate, bare_p50)):
        print(f"{label:<30} {rate:9.0f} req/s  p50 {p50}  ratio {rate / plain_rate:.3f}")
    print(f"GraphQL viewer vs the same work without GraphQL: {hash_rate / rest_rate:.3f}")
    met = min(text_rate, hash_rate) / plain_rate >= 0.25
    print("goal (viewer >= 0.25 x plain route):", "met" if met else "NOT met")


def create_postgres_database() -> str:
    from sqlalchemy import create_engine, text

    server = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    admin = create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS mynaportal_bench WITH (FORCE)"))
        connection.execute(text("CREATE DATABASE mynaportal_bench"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/mynaportal_bench"


if __name__ == "__main__":
    main()
