"""Corporate-number benchmark: import vs the database doing the same work, a daily diff, /4/num over HTTP,
name-search latency.

    .venv/bin/python tests/benchmarks/bench_corporate.py --rows 1000000 [--skip-postgres] [--keep]
        [--import-only] [--import-args='--parallel']

Generates a synthetic full-data file in the real 30-column Unicode format, then for SQLite and for
PostgreSQL:
- our importer (`mynaportal corporate import`, in its own process) into a freshly migrated, empty table;
- the yardstick: the database doing the same work itself. The rows exactly as our import stored them
  (search keys, hashes and all, exported untimed) are loaded by the database's own bulk path into the
  same schema (sqlite3 `.import`; psql `\\copy` = COPY), with the same secondary indexes, triggers and
  constraints dropped first and built afterwards, the same search indexes filled (SQLite's FTS5
  rebuilds; PostgreSQL's trigram postings) and the same ANALYZE. Only the parsing and validation of the
  file is left to us. SQLite's pair index calls a Python function (api.platform.db.text_pairs), which the
  sqlite3 shell lacks: that rebuild runs in Python's sqlite3 and is added to the yardstick's time;
- a daily diff of 2,000 rows (1,500 changed states of existing numbers, 500 new numbers) imported into the
  loaded table (the batch path, as every day);
- /4/num requests per second with wrk against uvicorn on one worker; p50/p95 of prefix and partial name
  searches, including three-character terms that lose a character to folding (サービ, チール, Ｍ＆Ｍ ...)
  and two-character ones (in-process, the domain function the API calls).
Each with wall time, rows/s and the process's peak RSS. Loopback only, bounded loops.
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

from corporate.search_index_rebuild import POSTINGS_TRIGGERS  # noqa: E402

LAST_CPU = [0.0]  # CPU seconds (user + system) of the last measured process: the machine is shared


def run_measured(command: list[str], env: dict[str, str] | None = None,
                 stdin: Path | None = None, output: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process (the largest of it and its own children)."""
    started = time.perf_counter()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as source, \
            open(output or os.devnull, "wb") as sink:
        process = subprocess.Popen(command, env=env, stdin=source, stdout=sink)
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
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


def _sqlite_schema(db: Path) -> list[tuple[str, str, str]]:
    """(type, name, CREATE statement) of the indexes and triggers a bulk load drops and rebuilds
    (bulk_load._drop_secondary)."""
    import sqlite3

    with sqlite3.connect(db) as connection:
        return [tuple(found) for found in connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'corporations' "
            "AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name")]


def sqlite_yardstick(ours_db: Path, workdir: Path, url: str, rows: int) -> float:
    """sqlite3 `.import` of the rows as ours stored them into the same schema, then the same index builds."""
    import sqlite3

    from api.platform.db import text_pairs

    staged = workdir / "staged-sqlite.csv"
    with sqlite3.connect(ours_db) as source:
        columns = [name for _, name, *_ in source.execute("PRAGMA table_info(corporations)")]
    # record_hash as 16 characters: the shell cannot write a blob into CSV; the same 16 bytes stored.
    selected = ", ".join("substr(hex(record_hash), 1, 16)" if name == "record_hash" else name for name in columns)
    export = workdir / "export.sql"
    export.write_text(f".mode csv\n.headers off\n.output {staged}\nSELECT {selected} FROM corporations;\n")
    run_measured(["sqlite3", str(ours_db)], stdin=export)
    db = workdir / "yardstick.sqlite3"
    subprocess.run([MYNAPORTAL, "migrate"], env=environment(f"sqlite+aiosqlite:///{db}"), check=True,
                   stdout=subprocess.DEVNULL)
    schema = _sqlite_schema(db)
    drops = [f'DROP {kind.upper()} "{name}";' for kind, name, _ in schema]
    statements = [sql for *_, sql in schema]
    script = workdir / "yardstick.sql"
    script.write_text("\n".join([
        "PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", "PRAGMA cache_size=-262144;", "BEGIN;", *drops,
        ".mode csv", f".import {staged} corporations", *(sql + ";" for sql in statements),
        "INSERT INTO corporation_search(corporation_search) VALUES ('rebuild');", "PRAGMA analysis_limit=1000;",
        "ANALYZE corporations;", "COMMIT;", "PRAGMA wal_checkpoint(TRUNCATE);", ""]))
    shell_seconds, rss = run_measured(["sqlite3", str(db)], stdin=script)
    started = time.perf_counter()
    with sqlite3.connect(db) as connection:
        connection.create_function("text_pairs", 1, text_pairs, deterministic=True)
        connection.execute("INSERT INTO corporation_pairs(corporation_pairs) VALUES ('rebuild')")
    pairs_seconds = time.perf_counter() - started
    seconds = shell_seconds + pairs_seconds
    line("SQLite yardstick (.import, same schema)", rows, seconds, rss)
    print(f"    sqlite3 shell {shell_seconds:.1f} s + pair index rebuild (Python function) {pairs_seconds:.1f} s",
          flush=True)
    return seconds


def _psql(url: str, sql: str) -> list[list[str]]:
    output = subprocess.run(["psql", url, "-qAtX", "-F", "\t", "-c", sql], check=True, capture_output=True,
                            text=True).stdout
    return [text.split("\t") for text in output.splitlines() if text]


def postgres_yardstick(ours_url: str, workdir: Path, rows: int) -> float:
    """COPY of the rows as ours stored them into the same schema in a second database, then the same index,
    constraint and trigram-postings builds, ANALYZE and VACUUM of the postings (bulk_load, fill_postings)."""
    staged = workdir / "staged-postgres.copy"
    columns = [name for (name,) in _psql(ours_url, "SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'corporations' AND column_name <> 'id' "
                                         "ORDER BY ordinal_position")]
    column_list = ", ".join(columns)
    subprocess.run(["psql", ours_url, "-qX", "-c", f"\\copy corporations ({column_list}) TO '{staged}'"], check=True)
    database = f"bench_yardstick_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", PG_ADMIN, "-q", "-c", f'CREATE DATABASE "{database}"'], check=True)
    try:
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
        subprocess.run([MYNAPORTAL, "migrate"], env=environment(url.replace("postgresql://", "postgresql+psycopg://")),
                       check=True, stdout=subprocess.DEVNULL)
        indexes = _psql(url, "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'corporations' "
                        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexname::regclass)")
        uniques = _psql(url, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conrelid = 'corporations'::regclass AND contype = 'u'")
        postings = _psql(url, "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                         "WHERE conrelid = 'corporation_trigrams'::regclass")
        script = workdir / "yardstick-postgres.sql"
        script.write_text("\n".join([
            "BEGIN;", "SET LOCAL maintenance_work_mem = '256MB';",
            *(f'DROP INDEX "{name}";' for name, _ in indexes),
            *(f'ALTER TABLE corporations DROP CONSTRAINT "{name}";' for name, _ in uniques),
            *(f"ALTER TABLE corporations DISABLE TRIGGER {trigger};" for trigger in POSTINGS_TRIGGERS),
            f"\\copy corporations ({column_list}) FROM '{staged}'",
            *(f'ALTER TABLE corporations ADD CONSTRAINT "{name}" {definition};' for name, definition in uniques),
            *(f"{definition};" for _, definition in indexes),
            "SET LOCAL jit = off;", "DROP TABLE corporation_trigrams;",
            "CREATE TABLE corporation_trigrams AS SELECT trigram, sort_key, position FROM corporation_trigram_rows;",
            *(f'ALTER TABLE corporation_trigrams ADD CONSTRAINT "{name}" {definition};'
              for name, definition in postings),
            *(f"ALTER TABLE corporations ENABLE TRIGGER {trigger};" for trigger in POSTINGS_TRIGGERS),
            "ANALYZE corporations, corporation_trigrams;", "COMMIT;", "VACUUM corporation_trigrams;", ""]))
        seconds, rss = run_measured(["psql", url, "-qX", "-v", "ON_ERROR_STOP=1", "-f", str(script)])
        line("PostgreSQL yardstick (COPY, same schema)", rows, seconds, rss)
    finally:
        subprocess.run(["psql", PG_ADMIN, "-q", "-c", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'], check=True)
    return seconds


def daily_diff(csv_path: Path, url: str, workdir: Path, rows: int) -> None:
    """2,000 rows of a day's diff file into the loaded table: 1,500 changed states of existing numbers
    (renamed, process 11) and 500 new numbers, as the NTA's diff files hold them."""
    from corporate import generate

    changed = []
    with csv_path.open(encoding="utf-8") as source:
        for index, text in enumerate(source):
            if index % max(rows // 1500, 1) == 0 and len(changed) < 1500:
                fields = text.rstrip("\n").split(",")
                fields[2], fields[4], fields[5] = "11", "2026-12-04", "2026-12-01"
                fields[6] = '"' + fields[6].strip('"') + "新商号" + '"'
                changed.append(fields)
    new = [text.split(",") for text in generate.rows(500, seed=rows + 99)]
    diff = workdir / "diff_20261204.csv"
    with diff.open("w", encoding="utf-8") as out:
        for sequence, fields in enumerate(changed + new, start=1):
            fields[0] = str(sequence)
            fields[4] = "2026-12-04"
            out.write(",".join(fields) + "\n")
    env = environment(url)
    # The yardstick has just written gigabytes: any write-back still pending is done before the clock starts (a
    # day's diff meets a settled database). The time it took is printed: a slow diff beside a long sync says why.
    settling = time.perf_counter()
    os.sync()
    print(f"  (write-back of the earlier loads settled in {time.perf_counter() - settling:.1f} s)", flush=True)
    summary = workdir / "diff.import.txt"
    seconds, rss = run_measured([MYNAPORTAL, "corporate", "import", "--quiet", str(diff)], env=env, output=summary)
    line(f"daily diff ({len(changed) + len(new):,} rows, batch path)", len(changed) + len(new), seconds, rss)
    print(f"    process CPU {LAST_CPU[0]:.1f} s (start-up included); {summary.read_text().strip()}", flush=True)


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
    if shutil.which("wrk") is None:
        print("  /4/num over HTTP: skipped (wrk is not installed)", flush=True)
        return
    env = environment(url)
    issued = subprocess.run([MYNAPORTAL, "corporate", "app-id", "create", "bench"], env=env, check=True,
                            capture_output=True, text=True).stdout.split()[-1]
    server = subprocess.Popen([MYNAPORTAL, "serve", "--port", str(port), "--workers", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # a minute: the server starts slowly on a loaded machine
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
    # Three characters as typed that lose one to folding (a long-vowel mark, a symbol): two-character keys.
    raw_names = []
    with csv_path.open(encoding="utf-8") as source:
        for index, text in enumerate(source):
            if index % 211 == 0:
                raw_names.append(text.split(",")[6].strip('"'))
    folding = sorted({name[start:start + 3] for name in raw_names for start in range(len(name) - 2)
                      if len(search_key(name[start:start + 3])) == 2})
    folded = ["サービ", "チール", "Ｍ＆Ｍ", *chooser.sample(folding, min(97, len(folding)))]
    pairs = [name[start:start + 2] for name in chooser.sample(names, min(100, len(names)))
             for start in [chooser.randrange(0, len(name) - 1)]]
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
        print(f"  name search {label or mode:<22} (count + first 100, {len(terms)} queries): "
              f"p50 {statistics.median(timings):6.1f} ms  p95 {p95:6.1f} ms  "
              f"(median hits {int(statistics.median(hits))})", flush=True)

    async def both() -> None:
        await measure("prefix", prefixes)
        await measure("partial", partials)
        await measure("partial", folded, "partial 3 folding to 2")
        await measure("partial", pairs, "partial 2")
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
            url = f"sqlite+aiosqlite:///{workdir / 'ours.sqlite3'}"
            mine = ours(csv_path, url, args.rows, args.import_args.split())
            yardstick = sqlite_yardstick(workdir / "ours.sqlite3", workdir, url, args.rows)
            print(f"  import / yardstick: {mine / yardstick:.2f}x", flush=True)
            daily_diff(csv_path, url, workdir, args.rows)
            if not args.import_only:
                http_rate(url, numbers, workdir, 8731)
                searches(url, csv_path)
        if not args.skip_postgres:
            database = f"bench_corporate_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", PG_ADMIN, "-q", "-c", f'CREATE DATABASE "{database}"'], check=True)
            try:
                print("PostgreSQL", flush=True)
                url = PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + "/" + database
                mine = ours(csv_path, url, args.rows, args.import_args.split())
                yardstick = postgres_yardstick(PG_ADMIN.rsplit("/", 1)[0] + "/" + database, workdir, args.rows)
                print(f"  import / yardstick: {mine / yardstick:.2f}x", flush=True)
                daily_diff(csv_path, url, workdir, args.rows)
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
