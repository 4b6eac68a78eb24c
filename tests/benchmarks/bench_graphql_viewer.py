"""`viewer` queries per second through uvicorn on loopback (one worker, every limit on), next to a plain
Starlette JSON route served the same way, and their ratio. Goal: at least 0.15 of the plain rate (every request
runs strawberry's whole pipeline: api.schema.view).
A third line serves the same data from a plain route that does the viewer's database work, which
separates what GraphQL costs from what the database costs; two more show the floor: an empty query
without a token, and `viewer { __typename }` (the token check and the viewer resolver, no fields). A
second portal, with MYNAPORTAL_SESSION_CACHE_SIZE=0, shows the viewer when every request looks its token
up (the first portal keeps what a lookup found for up to a second, api.identity.session_cache: the load
repeats one token, as an app's burst of requests does).

    .venv/bin/python tests/benchmarks/bench_graphql_viewer.py [--seconds 5] [--rounds 3] [--connections 32]
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
from statistics import median

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GOAL = 0.15
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, body: dict, token: str | None, seconds: int, connections: int, workdir: Path,
        server_pid: int | None = None) -> tuple[float, str, float]:
    """(requests/s, p50 latency, the server's CPU time per request in µs, when its pid is given)."""
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
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    served = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed responses from {url}")
    return rate, p50, cpu / served * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
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

        portal_port, plain_port, uncached_port = free_port(), free_port(), free_port()
        servers = [
            subprocess.Popen([BIN / "mynaportal", "serve", "--port", str(portal_port), "--workers", "1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([BIN / "uvicorn", "plain_app:app", "--port", str(plain_port), "--no-access-log",
                              "--log-level", "warning", "--app-dir", str(Path(__file__).parent)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([BIN / "mynaportal", "serve", "--port", str(uncached_port), "--workers", "1"],
                             env={**env, "MYNAPORTAL_SESSION_CACHE_SIZE": "0"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        try:
            portal = f"http://127.0.0.1:{portal_port}/graphql"
            plain = f"http://127.0.0.1:{plain_port}/graphql"
            uncached = f"http://127.0.0.1:{uncached_port}/graphql"
            wait_ready(f"http://127.0.0.1:{portal_port}/healthz")
            wait_ready(f"http://127.0.0.1:{uncached_port}/healthz")
            wait_ready(plain)
            by_text = {"query": VIEWER}
            by_hash = {"extensions": {"persistedQuery": {"version": 1,
                                                         "sha256Hash": hashlib.sha256(VIEWER.encode()).hexdigest()}}}
            check = httpx.post(portal, json=by_hash, headers={"authorization": f"Bearer {token}"}).json()
            assert check["data"]["viewer"]["name"] == "山田 太郎", check
            wrk(plain, {}, None, 2, args.connections, workdir)  # warm-up
            wrk(portal, by_text, token, 2, args.connections, workdir)
            wrk(uncached, by_text, token, 2, args.connections, workdir)
            plain_pid, portal_pid, uncached_pid = servers[1].pid, servers[0].pid, servers[2].pid
            # (label, url, body, token, server): the ceiling, the same DB work without GraphQL, the viewer
            # both ways, then where the time goes: the pipeline alone, and with the token and viewer resolver.
            measures = [
                ("plain Starlette JSON route", plain, {"query": "{ viewer { name } }"}, None, plain_pid),
                ("plain route, viewer's DB work", plain.replace("/graphql", "/rest-viewer"), {}, token, plain_pid),
                ("viewer (document text)", portal, by_text, token, portal_pid),
                ("viewer (persisted hash)", portal, by_hash, token, portal_pid),
                ("{ __typename }, no token", portal, {"query": "{ __typename }"}, None, portal_pid),
                ("{ viewer { __typename } }", portal, {"query": "{ viewer { __typename } }"}, token, portal_pid),
                ("viewer (hash), no session cache", uncached, by_hash, token, uncached_pid),
            ]
            # Rounds alternate the measures, so a slow spell of this shared machine hits all of them alike;
            # each ratio is taken within its round and the median is reported.
            rounds: list[dict[str, tuple[float, str, float]]] = []
            for _ in range(args.rounds):
                rounds.append({label: wrk(url, body, auth, args.seconds, args.connections, workdir, pid)
                               for label, url, body, auth, pid in measures})
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)

    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s x {args.rounds} rounds, uvicorn 1 worker, {args.database}, "
          f"{os.cpu_count()} cores shared by server and wrk; medians over the rounds")
    plain_label, rest_label = measures[0][0], measures[1][0]

    def ratio(label: str, against: str = plain_label) -> float:
        """The median over the rounds of the two rates' ratio within each round."""
        return median(one[label][0] / one[against][0] for one in rounds)

    print(f"{'':<32} {'req/s':>9}  {'p50':>8}  {'ratio':>6}  {'server CPU/req':>14}")
    for label, *_ in measures:
        rate = median(one[label][0] for one in rounds)
        cpu = median(one[label][2] for one in rounds)
        p50 = rounds[len(rounds) // 2][label][1]
        print(f"{label:<32} {rate:9.0f}  {p50:>8}  {ratio(label):6.3f}  {cpu:11.0f} µs")
    print(f"GraphQL viewer vs the same work without GraphQL: {ratio('viewer (persisted hash)', rest_label):.3f}")
    met = min(ratio("viewer (document text)"), ratio("viewer (persisted hash)")) >= GOAL
    print(f"goal (viewer >= {GOAL} x plain route):", "met" if met else "NOT met")


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
