"""Corporate-number benchmark: import vs raw load, /4/num over HTTP, name-search latency.

    .venv/bin/python tests/benchmarks/bench_corporate.py --rows 1000000 [--skip-postgres] [--keep]
        [--import-only] [--import-args='--parallel']

Generates a synthetic full-data file in the real 30-column Unicode format, then for SQLite and for
PostgreSQL: the raw load (sqlite3 `.import` into a bare table; psql `\\copy` = COPY), our importer
(`mynaportal corporate import`, in its own process), both with wall time, rows/s and the process's peak
RSS; /4/num requests per second with wrk against uvicorn on one worker; p50/p95 of prefix and partial
name searches (in-process, the domain function the API calls). Loopback only, bounded loops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
MYNAPORTAL = str(ROOT / ".venv" / "bin" / "mynaportal")
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_measured(command: list[str], env: dict[str, str] | None = None,
                 stdin: Path | None = None, output: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process (the largest of it and its own children)."""
    started = time.perf_counter()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as source, \
            open(output or os.devnull, "wb") as sink:
        process = subprocess.Popen(command, env=env, stdin=source, stdout=sink)
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(command)}")
    return elapsed, usage.ru_maxrss / 1024


def line(label: str, rows: int, seconds: float, rss: float) -> None:
    print(f"  {label:<34} {seconds:8.1f} s {rows / seconds:>10,.0f} rows/s   peak RSS {rss:7.1f} MiB", flush=True)


def environment(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MYNAPORTAL_DATABASE_URL=url,
               MYNAPORTAL_DEMO_KEYS_FILE=str(Path(tempfile.gettempdir()) / "bench-keys.json"),
               MYNAPORTAL_CORPORATE_RATE="100000000", MYNAPORTAL_CORPORATE_BURST="100000000",
               MYNAPORTAL_LOG_LEVEL="WARNING")
    return env


RAW_COLUMNS = ", ".join(f"c{i} text" for i in range(30))


def sqlite_raw(csv_path: Path, workdir: Path, rows: int) -> float:
    db = workdir / "raw.sqlite3"
    script = f"PRAGMA journal_mode=WAL;\nCREATE TABLE raw ({RAW_COLUMNS});\n.mode csv\n.import {csv_path} raw\n"
    script_file = workdir / "raw.sql"
    script_file.write_text(script)
    seconds, rss = run_measured(["sqlite3", str(db)], stdin=script_file)
    line("SQLite raw (.import, bare table)", rows, seconds, rss)
    return seconds


def postgres_raw(csv_path: Path, database: str, rows: int) -> float:
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
    subprocess.run(["psql", url, "-q", "-c", f"CREATE TABLE raw ({RAW_COLUMNS})"], check=True)
    seconds, rss = run_measured(["psql", url, "-q", "-c", f"\\copy raw FROM '{csv_path}' WITH (FORMAT csv)"])
    line("PostgreSQL raw (COPY, bare table)", rows, seconds, rss)
    return seconds


def ours(csv_path: Path, url: str, rows: int, extra: list[str]) -> float:
    """The real command end to end (into a freshly migrated, empty table: the bulk path), index builds included."""
    env = environment(url)
    subprocess.run([MYNAPORTAL, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    summary = csv_path.with_suffix(".import.txt")
    seconds, rss = run_measured([MYNAPORTAL, "corporate", "import", "--quiet", *extra, str(csv_path)], env=env,
                                output=summary)
    line("ours (mynaportal corporate import" + "".join(f" {arg}" for arg in extra) + ")", rows, seconds, rss)
    for text in summary.read_text().splitlines():
        print(f"    {text}", flush=True)
    return seconds


def sample_numbers(csv_path: Path, count: int) -> list[str]:
    numbers = []
    with csv_path.open(encoding="utf-8") as source:
        for index, text in enumerate(source):
            if index % 97 == 0:
                numbers.append(text.split(",", 2)[1])
            if len(numbers) >= count:
                break
    return numbers


def http_rate(url: str, numbers: list[str], workdir: Path, port: int) -> None:
    env = environment(url)
    issued = subprocess.run([MYNAPORTAL, "corporate", "app-id", "create", "bench"], env=env, check=True,
                            capture_output=True, text=True).stdout.split()[-1]
    server = subprocess.Popen([MYNAPORTAL, "serve", "--port", str(port), "--workers", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/healthz"], check=True, capture_output=True)
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        script = workdir / "num.lua"
        paths = ",".join(f'"/corporate/4/num?id={issued}&type=02&number={number}"' for number in numbers)
        script.write_text(f"local paths = {{{paths}}}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n"
                          "  return wrk.format('GET', paths[i])\nend\n")
        check = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                f"http://127.0.0.1:{port}/corporate/4/num?id={issued}&type=02&number={numbers[0]}"],
                               capture_output=True, text=True).stdout
        assert check == "200", check
        output = subprocess.run(["wrk", "-t1", "-c32", "-d10s", "--latency", "-s", str(script),
                                 f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
        rate = next(text for text in output.splitlines() if text.startswith("Requests/sec"))
        p50 = next(text for text in output.splitlines() if text.strip().startswith("50%"))
        errors = [text for text in output.splitlines() if "Non-2xx" in text or "Socket errors" in text]
        print(f"  /4/num over HTTP, 1 worker, wrk -t1 -c32 -d10s: {rate.split()[-1]} req/s, p50 {p50.split()[-1]}"
              + (f"  ({'; '.join(errors)})" if errors else ""), flush=True)
    finally:
        server.terminate()
        server.wait()


def searches(url: str, csv_path: Path) -> None:
    from api.platform.db import create_engine, create_session_factory
    from api.platform.normalise import search_key
    from corporate.name_search import NameSearch
    from corporate.service import search_names

    chooser = random.Random(7)
    names = []
    with csv_path.open(encoding="utf-8") as source:
        for index, text in enumerate(source):
            if index % 1009 == 0:
                names.append(search_key(text.split(",")[6].strip('"')))
    names = [name for name in names if len(name) >= 4]
    prefixes = [name[: chooser.randrange(2, 5)] for name in chooser.sample(names, min(100, len(names)))]
    partials = []
    for name in chooser.sample(names, min(100, len(names))):
        start = chooser.randrange(0, len(name) - 3)
        partials.append(name[start:start + 3])
    longer = []  # 4 to 6 characters: several trigrams, each candidate read for the count
    six = [name for name in names if len(name) >= 6]
    for name in chooser.sample(six, min(100, len(six))):
        length = chooser.randrange(4, 7)
        start = chooser.randrange(0, len(name) - length + 1)
        longer.append(name[start:start + length])

    async def measure(mode: str, terms: list[str], label: str = "") -> None:
        engine = create_engine(url)
        factory = create_session_factory(engine)
        timings, hits = [], []
        async with factory() as session:
            await search_names(session, NameSearch(text=terms[0], mode=mode), limit=100)  # warm
            for term in terms:
                started = time.perf_counter()
                count, _ = await search_names(session, NameSearch(text=term, mode=mode), limit=100)
                timings.append((time.perf_counter() - started) * 1000)
                hits.append(count or 0)
        await engine.dispose()
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(f"  name search {label or mode:<11} (count + first 100, {len(terms)} queries): "
              f"p50 {statistics.median(timings):6.1f} ms  p95 {p95:6.1f} ms  "
              f"(median hits {int(statistics.median(hits))})", flush=True)

    async def both() -> None:
        await measure("prefix", prefixes)
        await measure("partial", partials)
        await measure("partial", longer, "partial 4-6")

    asyncio.run(both())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--sqlite-database", help="measure /4/num and name search on this imported SQLite file "
                        "(made from the same --rows) instead of loading SQLite again")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and database")
    parser.add_argument("--import-only", action="store_true", help="only the raw loads and the imports")
    parser.add_argument("--import-args", default="", help="extra arguments of the import, e.g. '--parallel'")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-corporate-"))
    csv_path = workdir / "00_zenkoku_all_synthetic.csv"
    started = time.perf_counter()
    subprocess.run([MYNAPORTAL, "corporate", "generate", "--rows", str(args.rows), "--output", str(csv_path)],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 2**20:,.0f} MiB Unicode CSV) in "
          f"{time.perf_counter() - started:.1f} s; python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    numbers = sample_numbers(csv_path, 1000)
    try:
        print("SQLite (sqlite3 " + subprocess.run(["sqlite3", "--version"], capture_output=True, text=True)
              .stdout.split()[0] + ")", flush=True)
        if args.sqlite_database:
            url = f"sqlite+aiosqlite:///{Path(args.sqlite_database).resolve()}"
            http_rate(url, numbers, workdir, 8731)
            searches(url, csv_path)
        elif not args.skip_sqlite:
            raw = sqlite_raw(csv_path, workdir, args.rows)
            url = f"sqlite+aiosqlite:///{workdir / 'ours.sqlite3'}"
            mine = ours(csv_path, url, args.rows, args.import_args.split())
            print(f"  import / raw load: {mine / raw:.1f}x", flush=True)
            if not args.import_only:
                http_rate(url, numbers, workdir, 8731)
                searches(url, csv_path)
        if not args.skip_postgres:
            database = f"bench_corporate_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", PG_ADMIN, "-q", "-c", f'CREATE DATABASE "{database}"'], check=True)
            try:
                print("PostgreSQL", flush=True)
                raw = postgres_raw(csv_path, database, args.rows)
                url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + "/" + database
                mine = ours(csv_path, url, args.rows, args.import_args.split())
                print(f"  import / raw load: {mine / raw:.1f}x", flush=True)
                if not args.import_only:
                    http_rate(url, numbers, workdir, 8732)
                    searches(url, csv_path)
            finally:
                if not args.keep:
                    subprocess.run(["psql", PG_ADMIN, "-q", "-c", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
                                   check=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
