"""Records-log benchmark (a script, not collected by pytest): append throughput, wait before a proof exists,
and inclusion-proof time at a large tree.

1. Appends: W writers (default 32 concurrent tasks) each commit one pending leaf per transaction (what an
   exchange adds to its own transaction), while the sequencer integrates every --interval seconds in batches
   of --batch. Prints appends/s, integrated leaves/s and the wait from queueing to integration (p50/p99/max):
   how long a record waits before its proof exists.
2. Proofs (--proof-leaves N, PostgreSQL: default 10,000,000): the node table of an N-leaf tree is computed in
   Python (correct RFC 9162 hashes, chunk by chunk with `merkle.new_nodes`) and loaded with COPY (primary key
   added afterwards), one signed head stored; then `inclusion_proof` (the domain function: size check + one
   read of ≤ 2·log2 N nodes) is timed for random leaves (p50/p99), and a sample of proofs is verified.

    .venv/bin/python tests/benchmarks/bench_merkle_log.py [--database sqlite|postgresql] [--seconds 10]
        [--writers 32] [--interval 0.2] [--batch 4096] [--proof-leaves N] [--skip-appends]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from api.migrate import migrate  # noqa: E402
from api.platform.db import create_engine, create_session_factory, dispose_engine, utcnow  # noqa: E402
from api.records import log, merkle  # noqa: E402
from api.records.models import LogLeaf, TreeHeadRow  # noqa: E402
from api.records.signing import LogSigner  # noqa: E402
from tests.conftest import make_settings  # noqa: E402

SIGNER = LogSigner(((1, bytes(range(32))),))


async def database(kind: str) -> tuple[str, object]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-mlog-')}/bench.sqlite3"
        cleanup = None
    else:
        from sqlalchemy import create_engine as sync_engine

        admin_url = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        admin_url = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
        name = f"bench_mlog_{uuid.uuid4().hex[:8]}"
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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def appends(url: str, seconds: float, writers: int, interval: float, batch: int) -> None:
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    stop = time.monotonic() + seconds
    appended = 0
    rounds: list[float] = []

    async def writer(w: int) -> None:
        nonlocal appended
        i = 0
        while time.monotonic() < stop:
            async with sessions() as session, session.begin():
                await log.queue_leaf(session, f'{{"writer":{w},"n":{i},"item":"地方税関係情報"}}'.encode())
            appended += 1
            i += 1

    async def sequencer() -> None:
        while True:
            started = time.perf_counter()
            async with sessions() as session:
                head = await log.integrate(session, SIGNER, batch_size=batch)
            if head is not None:
                rounds.append(time.perf_counter() - started)
            if head is None and time.monotonic() >= stop:
                return
            await asyncio.sleep(interval)

    began = time.perf_counter()
    runner = asyncio.create_task(sequencer())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    write_seconds = time.perf_counter() - began
    await runner
    async with sessions() as session:
        rows = (await session.execute(select(LogLeaf.queued_at, LogLeaf.integrated_at))).all()
        head = await log.latest_tree_head(session)
    waits = [(b - a).total_seconds() * 1000 for a, b in rows]
    assert head is not None and head.size == len(rows) == appended
    print(f"appends: {appended} leaves by {writers} writers in {write_seconds:.1f} s = "
          f"{appended / write_seconds:.0f} appends/s (one transaction each)")
    print(f"sequencer: {len(rounds)} rounds, interval {interval} s, batch ≤ {batch}; round time p50 "
          f"{pct(rounds, .5) * 1000:.1f} ms, max {max(rounds) * 1000:.1f} ms; "
          f"{appended / sum(rounds):.0f} leaves/s while integrating")
    print(f"wait before the proof exists (queued → integrated): p50 {pct(waits, .5):.0f} ms, "
          f"p99 {pct(waits, .99):.0f} ms, max {max(waits):.0f} ms")
    await dispose_engine(engine)


async def sequencer_alone(url: str, leaves: int, batch: int) -> None:
    """The sequencer's own speed: ``leaves`` already pending, integrated in rounds with nothing else running."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for start in range(0, leaves, 5000):
            await session.execute(LogLeaf.__table__.insert(), [
                {"leaf_hash": merkle.leaf_hash(i.to_bytes(8, "big")), "leaf_data": i.to_bytes(8, "big"),
                 "queued_at": utcnow()} for i in range(start, min(leaves, start + 5000))])
    rounds: list[float] = []
    began = time.perf_counter()
    while True:
        started = time.perf_counter()
        async with sessions() as session:
            head = await log.integrate(session, SIGNER, batch_size=batch)
        if head is None:
            break
        rounds.append(time.perf_counter() - started)
    total = time.perf_counter() - began
    print(f"sequencer alone: {leaves} pending leaves integrated in {len(rounds)} rounds of ≤ {batch} in "
          f"{total:.1f} s = {leaves / total:.0f} leaves/s (round p50 {pct(rounds, .5) * 1000:.0f} ms)")
    await dispose_engine(engine)


def build_nodes(leaves: int, chunk: int = 1 << 16):  # type: ignore[no-untyped-def]
    """Every perfect node of an N-leaf tree, chunk by chunk, and the root."""
    edge: dict[merkle.Node, bytes] = {}
    size = 0
    while size < leaves:
        end = min(leaves, size + chunk)
        made = merkle.new_nodes(size, edge, [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(size, end)])
        yield made
        size = end
        known = {**edge, **made}
        edge = {node: known[node] for node in merkle.root_plan(size)}
    yield merkle.fold([edge[n] for n in merkle.root_plan(size)])


async def load_tree(url: str, leaves: int) -> bytes:
    started = time.perf_counter()
    built = build_nodes(leaves)
    root = b""
    if url.startswith("postgresql"):
        import psycopg

        conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("ALTER TABLE log_nodes DROP CONSTRAINT pk_log_nodes")
            copying = "COPY log_nodes (level, node_index, hash) FROM STDIN (FORMAT BINARY)"
            with connection.cursor().copy(copying) as copy:
                copy.set_types(["int2", "int8", "bytea"])
                for made in built:
                    if isinstance(made, bytes):
                        root = made
                        break
                    for (level, index), value in made.items():
                        copy.write_row((level, index, value))
            loaded = time.perf_counter()
            connection.execute("ALTER TABLE log_nodes ADD CONSTRAINT pk_log_nodes PRIMARY KEY (level, node_index)")
            connection.execute("VACUUM ANALYZE log_nodes")
        print(f"loaded {leaves} leaves' nodes in {loaded - started:.0f} s (hash + COPY), primary key and analyze "
              f"{time.perf_counter() - loaded:.0f} s")
    else:
        import sqlite3

        connection = sqlite3.connect(url.split("///", 1)[1])
        for made in built:
            if isinstance(made, bytes):
                root = made
                break
            connection.executemany("INSERT INTO log_nodes (level, node_index, hash) VALUES (?, ?, ?)",
                                   [(level, index, value) for (level, index), value in made.items()])
        connection.commit()
        connection.close()
        print(f"loaded {leaves} leaves' nodes in {time.perf_counter() - started:.0f} s")
    head = SIGNER.sign(leaves, root)
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(TreeHeadRow.__table__.insert().values(
            size=head.size, root_hash=head.root, timestamp_ms=head.timestamp_ms, key_generation=1,
            signature=head.signature))
    await dispose_engine(engine)
    return root


async def proofs(url: str, leaves: int, count: int = 3000) -> None:
    root = await load_tree(url, leaves)
    engine = create_engine(url)
    sessions = create_session_factory(engine, read_only=True)
    rng = random.Random(1)
    times: list[float] = []
    async with sessions() as session:
        for _ in range(200):  # warm the pool, the statement cache and the index pages touched
            await log.inclusion_proof(session, rng.randrange(leaves), leaves)
        for n in range(count):
            index = rng.randrange(leaves)
            started = time.perf_counter()
            proof = await log.inclusion_proof(session, index, leaves)
            times.append((time.perf_counter() - started) * 1000)
            if n % 100 == 0:
                assert merkle.verify_inclusion(merkle.leaf_hash(index.to_bytes(8, "big")), index, leaves, proof, root)
    nodes = max(len(merkle.nodes_of(merkle.inclusion_plan(i, leaves))) for i in rng.sample(range(leaves), 200))
    print(f"inclusion proof at {leaves} leaves ({len(proof)} hashes, up to {nodes} nodes read): "
          f"p50 {statistics.median(times):.2f} ms, p99 {pct(times, .99):.2f} ms, max {max(times):.2f} ms "
          f"over {count} random leaves (every 100th verified; one statement each)")
    await dispose_engine(engine)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--proof-leaves", type=int, default=0, help="0: 10,000,000 on PostgreSQL, 1,000,000 on "
                                                                     "SQLite; -1: skip")
    parser.add_argument("--skip-appends", action="store_true")
    args = parser.parse_args()
    if not args.skip_appends:
        url, cleanup = await database(args.database)
        try:
            await appends(url, args.seconds, args.writers, args.interval, args.batch)
            await sequencer_alone(url, 100_000, args.batch)
        finally:
            if cleanup:
                cleanup()  # type: ignore[operator]
    if args.proof_leaves >= 0:
        leaves = args.proof_leaves or (10_000_000 if args.database == "postgresql" else 1_000_000)
        url, cleanup = await database(args.database)
        try:
            await proofs(url, leaves)
        finally:
            if cleanup:
                cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    asyncio.run(main())
