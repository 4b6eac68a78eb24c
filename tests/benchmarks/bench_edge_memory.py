"""The resident memory of one uvicorn worker flooded with unauthenticated GraphQL documents made mostly of
comments (issue #16): 30 of 10 MiB (over the body limit: refused from their Content-Length, never read) and 30
just under the limit (read, decoded, refused by the document length), all sent at once, three times; then 300 distinct
documents just under the document length (parsed, validated, kept by the document cache up to its bound).

    .venv/bin/python tests/benchmarks/bench_edge_memory.py [--count 30]

Prints the worker's RSS before and after each flood. tests/api/test_app.py runs the same floods and bounds
the growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def worker(extra_env: dict[str, str] | None = None) -> Iterator[tuple[int, str]]:
    """(pid, base URL) of one uvicorn worker serving the app on a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as folder, open(f"{folder}/stderr", "wb+") as stderr:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MYNAPORTAL_DATABASE_URL": f"sqlite:///{folder}/db.sqlite3",
               "MYNAPORTAL_DEMO_KEYS_FILE": f"{folder}/keys.json", "MYNAPORTAL_SANDBOX_CA_DIR": f"{folder}/ca",
               "MYNAPORTAL_LOG_LEVEL": "WARNING", **(extra_env or {})}
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log"],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url + "/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        stderr.seek(0)
                        raise RuntimeError(f"the worker did not start: {stderr.read().decode()}") from None
                    time.sleep(0.1)
            yield process.pid, url
        finally:
            process.terminate()
            process.wait(10)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def commented_body(size: int, index: int) -> bytes:
    """A GraphQL request of exactly ``size`` bytes: one distinct document, almost all of it a comment."""
    shell = json.dumps({"query": f"#{index:06d}\n{{ __typename }}"}).encode()
    padding = size - len(shell)
    return json.dumps({"query": f"#{index:06d}{'x' * padding}\n{{ __typename }}"}).encode()


async def flood(url: str, bodies: list[bytes]) -> list[int | str]:
    """Send every body at once; the status of each (or the transport error a refused upload may end in)."""
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=len(bodies))) as client:
        async def one(body: bytes) -> int | str:
            try:
                response = await client.post(url + "/graphql", content=body,
                                             headers={"content-type": "application/json"})
                return response.status_code
            except httpx.TransportError as error:  # the server answered 413 and closed before the upload ended
                return type(error).__name__
        return list(await asyncio.gather(*(one(body) for body in bodies)))


def settle(pid: int) -> float:
    time.sleep(0.5)
    return rss_mib(pid)


def measure(count: int) -> dict[str, float | list[int | str]]:
    figures: dict[str, float | list[int | str]] = {}
    with worker() as (pid, url):
        asyncio.run(flood(url, [commented_body(1000, i) for i in range(3)]))  # warm: first requests' imports
        figures["start"] = settle(pid)
        figures["over_statuses"] = asyncio.run(flood(url, [commented_body(10 * MIB, i) for i in range(count)]))
        figures["after_over"] = settle(pid)
        under = MIB - 1024  # the default GraphQL limit is 1 MiB
        for round_ in (1, 2, 3):  # the same flood again: what a first one leaves is reused, not added to
            figures["under_statuses"] = asyncio.run(flood(url, [commented_body(under, round_ * 1000 + i)
                                                                for i in range(count)]))
            figures[f"after_under_{round_}"] = settle(pid)
        # Distinct documents just under the document length (100,000 characters): each is parsed and kept.
        for start in range(0, 300, 30):
            asyncio.run(flood(url, [commented_body(99_000, start + i) for i in range(30)]))
        figures["after_cached"] = settle(pid)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30)
    args = parser.parse_args()
    figures = measure(args.count)
    print(f"worker RSS at start                                   {figures['start']:7.1f} MiB")
    print(f"after {args.count} x 10 MiB (over the limit, refused early)      {figures['after_over']:7.1f} MiB"
          f"   statuses {sorted(set(map(str, figures['over_statuses'])))}")
    statuses = sorted(set(map(str, figures["under_statuses"])))  # type: ignore[call-overload]
    for round_ in (1, 2, 3):
        print(f"after {args.count} x 1 MiB - 1 KiB (just under the limit), #{round_} "
              f"{figures[f'after_under_{round_}']:7.1f} MiB   statuses {statuses}")
    print(f"after 300 distinct 99,000-byte documents (cached)     {figures['after_cached']:7.1f} MiB")


if __name__ == "__main__":
    main()
