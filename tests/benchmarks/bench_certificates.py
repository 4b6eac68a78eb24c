"""Benchmark: signed certificates per second, with the cost of each step, and a 世帯全員 住民票 of 8 people.

One process, the issuer built once (fonts parsed, keys loaded): for N documents of the demo father's 住民票の写し,
the register read and text (SQLite), the PDF (ReportLab, IPAex subset embedded), and the signature (PAdES by the
municipality, then the RFC 3161 document timestamp from the portal's TSA, in process). Baseline in the same run:
the PDF alone (no signature, no timestamp).

    python tests/benchmarks/bench_certificates.py [--documents 200]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import update  # noqa: E402

from api.certificates import content, pki, seed, service  # noqa: E402
from api.certificates.issuing import CertificateIssuer  # noqa: E402
from api.certificates.models import CertificateIssuance, CertificateKind, Channel  # noqa: E402
from api.demo import seed_demo  # noqa: E402
from api.migrate import migrate  # noqa: E402
from api.people.individual_number import IndividualNumberCipher, check_digit  # noqa: E402
from api.people.models import Sex  # noqa: E402
from api.people.service import NewPerson, register_person  # noqa: E402
from api.platform.db import create_engine, create_session_factory, dispose_engine  # noqa: E402
from payments.models import OrderState, PaymentOrder  # noqa: E402
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY, make_settings  # noqa: E402

TODAY = date(2026, 12, 5)


class StepCpu:
    """Process CPU time per step of ``collect`` (the database thread's included), by wrapping the issuer's steps:
    the same script measures any revision of the code (the run's baseline is main's)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {"text": 0.0, "render": 0.0, "sign": 0.0}

    def wrap(self, owner: Any, name: str, step: str) -> None:
        original = getattr(owner, name)

        if asyncio.iscoroutinefunction(original):
            @functools.wraps(original)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                began = time.process_time()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self.spent[step] += time.process_time() - began
            setattr(owner, name, timed_async)
        else:
            @functools.wraps(original)
            def timed(*args: Any, **kwargs: Any) -> Any:
                began = time.process_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.spent[step] += time.process_time() - began
            setattr(owner, name, timed)


async def _household_of_8(sf: Any, cipher: IndividualNumberCipher) -> Any:
    async with sf() as session, session.begin():
        people = []
        for index, (name, rel, reg) in enumerate([("高橋 健一", "世帯主", "夫"), ("高橋 陽子", "妻", "妻"),
                                                   ("高橋 一郎", "子", "長男"), ("高橋 二郎", "子", "二男"),
                                                   ("高橋 花", "子", "長女"), ("高橋 桜", "子", "二女"),
                                                   ("高橋 誠", "父", "父"), ("髙橋 和子", "母", "母")]):
            person = await register_person(session, cipher, NewPerson(
                name, "タカハシ", date(1950 + index * 7, 1 + index, 3), Sex.MALE if index % 2 == 0 else Sex.FEMALE,
                "東京都千代田区麹町一丁目1番", "131016", f"3{index:010d}" + str(check_digit(f"3{index:010d}"))))
            people.append(seed.Member(person, rel, reg))
        await seed.add_household(session, people, municipality_code="131016", moved_in=date(2010, 4, 1),
                                 previous_address="大阪府大阪市北区梅田一丁目1番",
                                 honseki="東京都千代田区麹町一丁目1番", honseki_code="131016",
                                 register_formed=date(1975, 5, 5))
        return people[0].person.id


async def main(count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-certificates-"))
    settings = make_settings(f"sqlite+aiosqlite:///{work / 'db.sqlite3'}")
    await migrate(settings)
    engine = create_engine(settings.database_url)
    sf = create_session_factory(engine)
    cipher = IndividualNumberCipher(TEST_DATA_KEY, TEST_LOOKUP_KEY)
    async with sf() as session, session.begin():
        father = (await seed_demo(session, cipher)).people[0]
    head = await _household_of_8(sf, cipher)
    started = time.perf_counter()
    issuer = CertificateIssuer(pki.load_or_create_sandbox(work / "pki", {"131016": "千代田区"}),
                               public_url="http://127.0.0.1:8000", sandbox_dir=work / "pki")
    setup = time.perf_counter() - started

    rows = []
    for index in range(count):
        row = await service.request_certificate(sf, issuer, father, service.CertificateRequest(
            father, CertificateKind.RESIDENT_RECORD, content.Options(), Channel.APP, f"bench-{index}"), today=TODAY)
        rows.append(row)
    async with sf() as session, session.begin():
        await session.execute(update(PaymentOrder).values(state=OrderState.PAID))
    async with sf() as session:
        texts = [await issuer.text(session, await session.get_one(CertificateIssuance, row.id)) for row in rows]
    issuer.times.text = 0.0

    # Baseline: the PDF alone.
    began, cpu_began = time.perf_counter(), time.process_time()
    for text in texts:
        issuer.renderer.render(text)
    baseline, baseline_cpu = time.perf_counter() - began, time.process_time() - cpu_began

    # The measure: signed certificates (PDF, PAdES signature, document timestamp), keys loaded once.
    began, cpu_began = time.perf_counter(), time.process_time()
    for text in texts:
        await issuer.produce(text, "131016")
    produced, produced_cpu = time.perf_counter() - began, time.process_time() - cpu_began
    issuer.times.render = issuer.times.sign = 0.0

    steps = StepCpu()
    assert issuer.signer is not None
    steps.wrap(issuer, "text", "text")
    steps.wrap(issuer.renderer, "render", "render")
    steps.wrap(issuer.signer, "sign", "sign")
    began, cpu_began = time.perf_counter(), time.process_time()
    for row in rows:
        await service.collect(sf, issuer, father, row.id, cipher=cipher, today=TODAY)
    total, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    times = issuer.times
    for name in ("text", "render", "sign"):
        delattr(issuer if name == "text" else issuer.renderer if name == "render" else issuer.signer, name)

    # The signature alone (PAdES + document timestamp) on one of the PDFs, in CPU time: steadier than rates here.
    assert issuer.signer is not None
    pdf = issuer.renderer.render(texts[0]).pdf
    cpu_began = time.process_time()
    for _ in range(count):
        await issuer.signer.sign(pdf, "131016", reason="住民票の写し", location="千代田区")
    sign_cpu = time.process_time() - cpu_began

    big = await service.request_certificate(sf, issuer, head, service.CertificateRequest(
        head, CertificateKind.RESIDENT_RECORD, content.Options(household=True, honseki=True), Channel.APP, "8"),
        today=TODAY)
    async with sf() as session, session.begin():
        await session.execute(update(PaymentOrder).values(state=OrderState.PAID))
    began, cpu_began = time.perf_counter(), time.process_time()
    issued = await service.collect(sf, issuer, head, big.id, cipher=cipher, today=TODAY)
    household, household_cpu = time.perf_counter() - began, time.process_time() - cpu_began
    _, pdf = await service.document_for(sf, issuer, head, big.id, cipher=cipher)
    (work / "household-of-8.pdf").write_bytes(pdf)
    await dispose_engine(engine)

    per = lambda seconds: f"{seconds / count * 1000:6.1f} ms"  # noqa: E731
    print(f"code: {ROOT}; machine: {platform.machine()} {platform.python_version()}, shared with other work "
          f"(2 cores); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"issuer setup (fonts parsed, keys loaded, once): {setup * 1000:.0f} ms")
    print(f"{count} signed 住民票の写し (one person) issued end to end (collect: DB, text, PDF, PAdES, timestamp, "
          f"inbox notice): {count / total:.1f} certificates/s, {per(total)} each")
    print(f"  text from the registers: {per(times.text)}   PDF: {per(times.render)}   "
          f"signature + document timestamp: {per(times.sign)}   database + notice: "
          f"{per(total - times.text - times.render - times.sign)}")
    print(f"{count} signed certificates (PDF + PAdES + document timestamp, no database): {count / produced:.1f}/s "
          f"wall clock, {per(produced_cpu)} CPU each -> {count / produced_cpu:.1f} per CPU-second")
    print(f"  CPU per step: PDF {per(baseline_cpu)}, signature + document timestamp {per(sign_cpu)}")
    print(f"  CPU per certificate end to end (this process, all steps): {per(cpu)} -> {count / cpu:.1f} "
          "certificates per CPU-second")
    spent = steps.spent
    print(f"  CPU per step end to end: registers + text {per(spent['text'])}, PDF {per(spent['render'])}, "
          f"signature + timestamp {per(spent['sign'])}, database + notice (the rest) "
          f"{per(cpu - spent['text'] - spent['render'] - spent['sign'])}")
    print(f"  baseline, PDF alone: {per(baseline)} ({count / baseline:.0f}/s)")
    print(f"世帯全員 住民票 of 8 people (本籍 shown): {household * 1000:.0f} ms wall, {household_cpu * 1000:.0f} ms "
          f"CPU, {issued.pages} pages, "
          f"{len(pdf):,} bytes -> {work / 'household-of-8.pdf'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200)
    asyncio.run(main(parser.parse_args().documents))
