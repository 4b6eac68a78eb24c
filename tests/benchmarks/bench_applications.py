"""Online applications on PostgreSQL, in process (the domain functions, no HTTP):

- signed submissions: N drafts of the 児童手当 claim prepared and signed beforehand with a sandbox card's
  signature key (RSA-2048, PKCS#1 v1.5 over SHA-256, as the card signs), then submitted from C concurrent
  tasks: each submission validates the form against its JSON Schema, checks the certificate chain, this
  server's revocations and OCSP (cached after the first answer), verifies the signature, moves the row and
  publishes the receipt notice. Reports submissions/s and p50/p99.
- the municipality's inbox at M applications: rows generated in SQL, then random keyset pages of 50 by status;
  p50/p95 per page.
- ぴったり with P procedures in the catalogue, all published by the person's municipality: p50/p95.

With ``--processes N`` the prepared submissions are sent by N processes (the concurrency split between them),
released together, as N server workers would take them; the figures are then summed over the processes.

Usage: .venv/bin/python tests/benchmarks/bench_applications.py [--submissions 400 --concurrency 16
        --processes 1 --inbox 1000000 --procedures 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select, text

from api.applications import catalogue as catalogue_module
from api.applications import discover, drafts, inbox, offerings, submission
from api.applications.models import ProcedureOffering
from api.applications.staff import InboxActor
from api.demo import seed_demo
from api.identity.cards import issue_virtual_card
from api.identity.service import IdentityService
from api.migrate import migrate
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person
from api.platform.db import create_engine, create_session_factory
from api.platform.pagination import PageRequest
from tests.benchmarks.bench_exchange import create_database, drop_database
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings

TODAY = date(2026, 12, 5)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def bench_submissions(factory, identity: IdentityService, father, child, card, count: int,
                            concurrency: int, profiler: cProfile.Profile | None = None, *, settings=None,
                            processes: int = 1) -> None:
    key = card.sign_key
    prepared = []
    for _ in range(count):
        draft = await drafts.start_draft(factory, father, "child_allowance_claim", child, today=TODAY)
        form = {**draft.form, "payTo": {"usePublicBenefitAccount": True}}
        draft = await drafts.save_draft(factory, father, draft.id, form, draft.revision)
        to_sign = await submission.to_sign(factory, father, draft.id)
        signature = key.sign(to_sign.document, padding.PKCS1v15(), hashes.SHA256())
        prepared.append((draft.id, signature))
    certificate = card.sign_certificate.public_bytes(serialization.Encoding.DER)
    chain = [card.sign_ca_certificate.public_bytes(serialization.Encoding.DER)]
    # One submission first: the OCSP answer is then cached, as in a running worker.
    first_id, first_signature = prepared.pop()
    await submission.submit(factory, identity, father, first_id, form_version=1, certificate=certificate,
                            chain=chain, signature=first_signature, today=TODAY)
    if processes > 1:
        _in_processes(settings, prepared, certificate, chain, father, concurrency, processes)
        return
    latencies: list[float] = []
    queue = list(prepared)

    async def worker() -> None:
        while queue:
            application_id, signature = queue.pop()
            started = time.perf_counter()
            await submission.submit(factory, identity, father, application_id, form_version=1,
                                    certificate=certificate, chain=chain, signature=signature, today=TODAY)
            latencies.append((time.perf_counter() - started) * 1000)

    await _open_connections(factory, concurrency)
    backends = await _backend_pids(factory)
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), _cpu_of(backends)
    if profiler is not None:
        profiler.enable()
    waits: Counter[str] = Counter()
    done = asyncio.Event()
    sampling = asyncio.create_task(_sample_waits(factory, waits, done))
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done.set()
    await sampling
    if profiler is not None:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = _cpu_of(backends) - server_cpu
    print(f"signed submissions  {len(latencies) / elapsed:8.1f}/s  ({len(latencies)} in {elapsed:.1f} s, "
          f"{concurrency} tasks, 1 process)  p50 {statistics.median(latencies):6.1f} ms  "
          f"p99 {percentile(latencies, 0.99):6.1f} ms  CPU {cpu * 1000 / len(latencies):.2f} ms/submission "
          f"(this process), {server_cpu * 1000 / len(latencies):.2f} ms/submission (its PostgreSQL backends, "
          f"{len(backends)})")
    samples = sum(waits.values())
    print("  the backends' state, sampled every 20 ms (share of backends x samples): " + ", ".join(
        f"{what} {count * 100 / samples:.0f}%" for what, count in waits.most_common(8)))


def _in_processes(settings, prepared, certificate: bytes, chain: list[bytes], father, concurrency: int,
                  processes: int) -> None:
    """Send the prepared submissions from ``processes`` processes, released together by a barrier."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    shares = [prepared[index::processes] for index in range(processes)]
    children = [context.Process(target=_child, args=(settings, share, certificate, chain, father,
                                                     max(1, concurrency // processes), barrier, results))
                for share in shares]
    for child in children:
        child.start()
    barrier.wait()  # every process has its connections open and one submission behind it
    answers = [results.get() for _ in children]
    for child in children:
        child.join()
    latencies = [latency for answer in answers for latency in answer["latencies"]]
    elapsed = max(a["ended"] for a in answers) - min(a["started"] for a in answers)
    cpu = sum(a["cpu"] for a in answers)
    server_cpu = sum(a["server_cpu"] for a in answers)
    print(f"signed submissions  {len(latencies) / elapsed:8.1f}/s  ({len(latencies)} in {elapsed:.1f} s, "
          f"{concurrency} tasks in {processes} processes)  p50 {statistics.median(latencies):6.1f} ms  "
          f"p99 {percentile(latencies, 0.99):6.1f} ms  CPU {cpu * 1000 / len(latencies):.2f} ms/submission "
          f"(the processes), {server_cpu * 1000 / len(latencies):.2f} ms/submission (their PostgreSQL backends)")


def _child(settings, share, certificate: bytes, chain: list[bytes], father, concurrency: int, barrier,
           results) -> None:
    results.put(asyncio.run(_child_run(settings, share, certificate, chain, father, concurrency, barrier)))


async def _child_run(settings, share, certificate: bytes, chain: list[bytes], father, concurrency: int,
                     barrier) -> dict:
    url = settings.database_url
    # A name of this process's own on its connections, so its backends' CPU is told apart from the others'.
    engine = create_engine(f"{url}{'&' if '?' in url else '?'}application_name=bench{os.getpid()}",
                           pool_size=concurrency + 2)
    factory = create_session_factory(engine)
    identity = IdentityService.from_settings(settings, factory)
    identity.revocation.status = _good  # type: ignore[method-assign]
    queue = list(share)
    warm_id, warm_signature = queue.pop()  # this process's caches warm, as in a running worker
    await submission.submit(factory, identity, father, warm_id, form_version=1, certificate=certificate,
                            chain=chain, signature=warm_signature, today=TODAY)
    await _open_connections(factory, concurrency)
    backends = await _backend_pids_of_this_process(factory)
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    latencies: list[float] = []
    started, cpu, server_cpu = time.time(), time.process_time(), _cpu_of(backends)

    async def worker() -> None:
        while queue:
            application_id, signature = queue.pop()
            begun = time.perf_counter()
            await submission.submit(factory, identity, father, application_id, form_version=1,
                                    certificate=certificate, chain=chain, signature=signature, today=TODAY)
            latencies.append((time.perf_counter() - begun) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    answer = {"latencies": latencies, "started": started, "ended": time.time(), "cpu": time.process_time() - cpu,
              "server_cpu": _cpu_of(backends) - server_cpu}
    await engine.dispose()
    return answer


async def _backend_pids_of_this_process(factory) -> list[int]:
    """The backends of this process's own connections (named after it)."""
    async with factory() as session:
        return list(await session.scalars(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' "
            "AND application_name = current_setting('application_name')")))


async def _sample_waits(factory, waits: Counter[str], done: asyncio.Event) -> None:
    """What this database's other backends are doing (idle in a transaction: waiting for this process; a lock, WAL
    or IO: contention in the server)."""
    async with factory() as session:
        while not done.is_set():
            rows = await session.execute(text(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"))
            for state, kind, event in rows:
                waits[f"{state} ({kind}:{event})" if kind and kind != "Client" else state] += 1
            await session.rollback()
            await asyncio.sleep(0.02)


async def _open_connections(factory, count: int) -> None:
    """Have the pool open the connections the workers will use, so their backends are known before measuring."""
    async def hold() -> None:
        async with factory() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.2)

    await asyncio.gather(*(hold() for _ in range(count)))


async def _backend_pids(factory) -> list[int]:
    """The PostgreSQL backends of this benchmark's database (the pool's connections, opened by then)."""
    async with factory() as session:
        return list(await session.scalars(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'")))


def _cpu_of(pids: list[int]) -> float:
    """User and system CPU seconds of these processes so far (Linux /proc; the server runs on this machine)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def bench_inbox(engine, factory, actor: InboxActor, father, child, rows: int, pages: int,
                      profiler: cProfile.Profile | None = None, explain: bool = False) -> None:
    started = time.perf_counter()
    async with engine.begin() as connection:
        await connection.execute(text("""
            INSERT INTO applications (id, reception_number, municipality_code, procedure_code, form_version,
                applicant_person_id, subject_person_id, basis, status, form, prefill, nonce, revision,
                created_at, updated_at, submitted_at)
            SELECT gen_random_uuid(), 'R' || lpad(n::text, 21, '0'), '131016', 'child_allowance_claim', 1, :father,
                :child, 'parent',
                (ARRAY['received', 'reviewing', 'correction_requested', 'completed', 'rejected'])[1 + n % 5],
                '{}'::json, '{}'::json, '\\x00'::bytea, 1, now(), now(),
                now() - make_interval(secs => n)
            FROM generate_series(1, :rows) AS n"""), {"father": father, "child": child, "rows": rows})
        await connection.execute(text("ANALYZE applications"))
    print(f"  ({rows} applications generated in {time.perf_counter() - started:.0f} s)")
    latencies: list[float] = []
    cursor = None
    for index in range(pages):
        status = ("received", "reviewing", "completed")[index % 3]
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        page = await inbox.list_inbox(factory, actor, PageRequest.parse(50, cursor if index % 3 else None), status)
        if profiler is not None:
            profiler.disable()
        latencies.append((time.perf_counter() - started) * 1000)
        assert len(page.items) == 50
        cursor = page.items[-1][0]
    if explain:
        read, params = inbox.page_parameters(actor, PageRequest.parse(50, cursor), "reviewing")
        compiled = read.statement.compile(dialect=engine.dialect)
        async with engine.connect() as connection:
            plan = await connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + compiled.string, params)
            print("\n".join(row[0] for row in plan))
    print(f"inbox page of 50    p50 {statistics.median(latencies):6.1f} ms  p95 {percentile(latencies, 0.95):6.1f} ms"
          f"  ({pages} pages by status, first and following, of {rows} applications)")


async def bench_pittari(factory, father, procedures: int, rounds: int,
                        profiler: cProfile.Profile | None = None) -> None:
    base = catalogue_module.catalogue()
    generated = {}
    originals = list(base.procedures.values())
    for index in range(procedures):
        proc = originals[index % len(originals)]
        code = proc.code if index < len(originals) else f"{proc.code}_{index}"
        generated[code] = dataclasses.replace(proc, code=code)
    big = dataclasses.replace(base, procedures=generated)
    original = offerings.catalogue
    offerings.catalogue = lambda: big  # type: ignore[assignment]  # what offered() publishes from
    try:
        async with factory() as session, session.begin():
            known = set(await session.scalars(select(ProcedureOffering.procedure_code)))
            session.add_all(ProcedureOffering(municipality_code="131016", procedure_code=code, form_version=1,
                                              signature_required=True, fee_yen=0)
                            for code in generated if code not in known)
        latencies = []
        fits = []
        for _ in range(rounds):
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            fits = await discover.pittari(factory, father, TODAY)
            if profiler is not None:
                profiler.disable()
            latencies.append((time.perf_counter() - started) * 1000)
        print(f"pittari             p50 {statistics.median(latencies):6.1f} ms  p95 {percentile(latencies, 0.95):6.1f}"
              f" ms  ({procedures} procedures published, {len(fits)} fit)")
    finally:
        offerings.catalogue = original  # type: ignore[assignment]


async def run(args: argparse.Namespace, url: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = make_settings(url, sandbox_ca_dir=Path(home) / "ca", public_url="http://127.0.0.1:9")
        await migrate(settings)
        engine = create_engine(url, pool_size=args.concurrency + 4)
        factory = create_session_factory(engine)
        cipher = IndividualNumberCipher(TEST_DATA_KEY, TEST_LOOKUP_KEY)
        async with factory() as session, session.begin():
            father, _, child = (await seed_demo(session, cipher)).people
        identity = IdentityService.from_settings(settings, factory)
        # No OCSP responder runs here: this server's own revocations are checked, the network source is not.
        identity.revocation.status = _good  # type: ignore[method-assign]
        async with factory() as session, session.begin():
            _, card = await issue_virtual_card(session, identity.ca, cipher, father)
            chiyoda = (await session.execute(text("SELECT id FROM agencies WHERE slug = 'chiyoda-city'"))).scalar()
            assert await session.get(Person, father) is not None
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
        if "submissions" in args.only:
            await bench_submissions(factory, identity, father, child, card, args.submissions, args.concurrency,
                                    profiler, settings=settings, processes=args.processes)
        if "pittari" in args.only:
            await bench_pittari(factory, father, args.procedures, 200, profiler)
        if "inbox" in args.only:
            await bench_inbox(engine, factory, InboxActor(chiyoda, "131016", "bench", True), father, child,
                              args.inbox, 300, profiler, args.explain)
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats("api/", 30)
        await engine.dispose()


async def _good(*_: object) -> object:
    from api.identity.revocation import Status

    return Status.GOOD


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1, help="processes sending the submissions")
    parser.add_argument("--inbox", type=int, default=1_000_000)
    parser.add_argument("--procedures", type=int, default=2000)
    parser.add_argument("--only", nargs="+", default=["submissions", "pittari", "inbox"],
                        choices=["submissions", "pittari", "inbox"])
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE a following inbox page")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured parts (slower)")
    args = parser.parse_args()
    dsn, name = create_database()
    try:
        print(f"PostgreSQL, load average {os.getloadavg()[0]:.1f} at start")
        asyncio.run(run(args, dsn.replace("postgresql://", "postgresql+psycopg://", 1)))
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
