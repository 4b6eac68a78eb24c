"""The 2023 incidents (one-stop.md §3.5), tried on purpose: two server processes on PostgreSQL, 100 kiosks, 1,000
concurrent certificate requests (the issue's size), injected print timeouts and retries; every PDF's names read back
with poppler.

Passes only if no kiosk ever receives a document of anyone but the card holder at that kiosk. (20 kiosks already
race: a print queue shared between requests, injected on purpose, gave 47 wrong documents at that size.)
tests/benchmarks/bench_kiosk_load.py times the same run.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.certificates import seed
from api.certificates.models import CertificateIssuance, IssuanceState, KioskSession
from api.demo import seed_demo
from api.identity.cards import CardIssuance, issue_virtual_card
from api.identity.challenges import login_message
from api.identity.sandbox_ca import SandboxCA
from api.people.individual_number import IndividualNumberCipher, check_digit
from api.people.models import Sex
from api.people.service import NewPerson, register_person
from api.platform.db import create_session_factory
from tests.api.certificates.conftest import add_kiosk
from tests.api.identity.conftest import command_env
from tests.served import serving

KIOSKS = int(os.environ.get("LOAD_KIOSKS", "100"))
REQUESTS_PER_KIOSK = 10  # 1,000 in all, in flight together
PRINT_TIMEOUT_RATE = 0.1  # the printer does not answer: the kiosk reports failure and asks for a reissue
RETRY_RATE = 0.1  # the kiosk's request times out on its side: it sends the same request again (same key)
SURNAMES = "佐藤鈴木高橋田中伊藤渡辺山本中村小林加藤"
GIVEN = ["一郎", "二郎", "三郎", "花子", "桜", "健", "翔", "陽子", "誠", "愛"]


@pytest.fixture
def two_workers(engine: AsyncEngine, database_url: str, ca_dir: Path, pki_dir: Path) -> Iterator[str]:
    """`mynaportal serve --workers 2` on the test's database; stopped before the engine empties the tables."""
    if not database_url.startswith("postgresql"):
        pytest.skip("two server processes share one database: PostgreSQL")
    env = {**command_env(database_url, ca_dir), "MYNAPORTAL_CERTIFICATE_PKI_DIR": str(pki_dir),
           "MYNAPORTAL_LOGIN_LIMIT_PER_CERTIFICATE": "100", "MYNAPORTAL_LOG_LEVEL": "WARNING",
           # Two workers share their rate limits through Redis (serve --workers refuses memory://).
           "MYNAPORTAL_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379/0",
           "MYNAPORTAL_RATE_LIMIT_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
    with serving(env, workers=2) as server:
        yield server.base


@dataclass
class Holder:
    name: str
    card: CardIssuance


@dataclass
class Outcome:
    documents: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # issuance id -> (kiosk, pdf)
    refusals: list[str] = field(default_factory=list)
    reissues: int = 0
    retries: int = 0
    login_retries: int = 0


async def _people(engine: AsyncEngine, cipher: IndividualNumberCipher, ca: SandboxCA) -> list[Holder]:
    holders = []
    async with create_session_factory(engine)() as session, session.begin():
        await seed_demo(session, cipher)  # the municipalities, Chiyoda's certificate office
        for index in range(KIOSKS):
            name = f"{SURNAMES[2 * (index % 10):2 * (index % 10) + 2]} {GIVEN[index // 10]}"
            person = await register_person(session, cipher, NewPerson(
                name, "テスト", date(1980, 1, 1 + index % 28), Sex.MALE, f"東京都千代田区一番町{index + 1}番",
                "131016", f"2{index:010d}" + str(check_digit(f"2{index:010d}"))))
            await seed.add_household(session, [seed.Member(person, "世帯主", "夫")], municipality_code="131016",
                                     moved_in=date(2020, 1, 1), previous_address=None, honseki="東京都千代田区",
                                     honseki_code="131016", register_formed=date(2010, 1, 1))
            _, card = await issue_virtual_card(session, ca, cipher, person.id, next_generation=True)
            holders.append(Holder(name, card))
    return holders


def _card_signature(card: CardIssuance, message: bytes) -> bytes:
    """The next-generation card's authentication key signs (ECDSA P-384, the card's raw r || s)."""
    assert isinstance(card.auth_key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(card.auth_key.sign(message, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _kiosk(client: httpx.AsyncClient, key: str, terminal: str, holder: Holder, rng: random.Random,
                 outcome: Outcome, logins: asyncio.Semaphore, all_in: asyncio.Barrier) -> str:
    auth = {"authorization": f"Bearer {key}"}
    async with logins:
        opened = await _insert_card(client, auth, holder, outcome)
    await all_in.wait()  # every card is in: all the requests start together
    session_id = opened.json()["session_id"]
    base = f"/kiosk/v1/sessions/{session_id}/certificates"

    async def ask(key_: str, replaces: str | None = None) -> dict:
        body = {"certificate": "resident-record", "receipt": f"{terminal}-{key_}",
                **({"replaces": replaces} if replaces else {})}
        headers = {**auth, "idempotency-key": key_}
        if rng.random() < RETRY_RATE:  # the same request twice at once: one document, one answer
            outcome.retries += 1
            first, second = await asyncio.gather(client.post(base, headers=headers, json=body),
                                                 client.post(base, headers=headers, json=body))
            assert first.status_code == second.status_code == 201, (first.text, second.text)
            assert first.json()["id"] == second.json()["id"]
            return first.json()
        answer = await client.post(base, headers=headers, json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def one(number: int) -> None:
        asked = await ask(f"{terminal}-{number}")
        while True:
            taken = await client.post(f"{base}/{asked['id']}/document", headers=auth)
            assert taken.status_code == 200, taken.text
            outcome.documents[asked["id"]] = (terminal, taken.content)
            again = await client.post(f"{base}/{asked['id']}/document", headers=auth)  # a retried take
            outcome.refusals.append(again.json()["code"])
            printed = rng.random() >= PRINT_TIMEOUT_RATE
            result = await client.post(f"{base}/{asked['id']}/print-result", headers=auth, json={"printed": printed})
            assert result.json()["state"] == ("printed" if printed else "void")
            if printed:
                return
            outcome.reissues += 1
            asked = await ask(f"{terminal}-{number}-re-{asked['id'][:8]}", replaces=asked["id"])
            assert asked["fee"] == 0

    await asyncio.gather(*(one(n) for n in range(REQUESTS_PER_KIOSK)))
    ended = await client.delete(f"/kiosk/v1/sessions/{session_id}", headers=auth)
    assert ended.status_code == 204
    return session_id


async def _insert_card(client: httpx.AsyncClient, auth: dict[str, str], holder: Holder,
                       outcome: Outcome) -> httpx.Response:
    for attempt in range(20):
        started = (await client.post("/kiosk/v1/challenges", headers=auth)).json()
        message = login_message(started["client_id"], base64.b64decode(started["nonce"]))
        opened = await client.post("/kiosk/v1/sessions", headers=auth, json={
            "challenge_id": started["challenge_id"],
            "certificate": _b64(holder.card.auth_certificate.public_bytes(serialization.Encoding.DER)),
            "chain": [_b64(holder.card.auth_ca_certificate.public_bytes(serialization.Encoding.DER))],
            "signature": _b64(_card_signature(holder.card, message))})
        if opened.status_code != 503:  # REVOCATION_UNAVAILABLE under the burst: "try again", as a kiosk does
            break
        outcome.login_retries += 1
        await asyncio.sleep(0.1 * (attempt + 1))
    assert opened.status_code == 201, opened.text
    return opened


def _names(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return "".join(out.split())


@pytest.mark.slow
async def test_no_kiosk_ever_receives_anyone_elses_certificate(
        two_workers: str, engine: AsyncEngine, cipher: IndividualNumberCipher, ca_dir: Path) -> None:
    ca = SandboxCA.load(ca_dir, two_workers)  # cards whose OCSP address is the servers under test
    holders = await _people(engine, cipher, ca)
    sf = create_session_factory(engine)
    kiosks = [await add_kiosk(sf, f"L{index:04d}") for index in range(KIOSKS)]
    rng = random.Random(2023)
    outcome = Outcome()
    # Cards are read a few at a time (the identity service's self-OCSP under a burst of 100 logins stalled: see the
    # report); the certificate requests, the subject of this test, all go at once.
    logins, all_in = asyncio.Semaphore(8), asyncio.Barrier(KIOSKS)
    # Each kiosk is its own terminal with its own HTTP client (one pool of 1,000 waiting requests makes httpcore's
    # pool spin); idle connections are dropped after 2 s, before uvicorn closes them at 5 s.
    limits = httpx.Limits(max_connections=20, keepalive_expiry=2.0)
    timeout = httpx.Timeout(900, pool=None)
    clients = [httpx.AsyncClient(base_url=two_workers, timeout=timeout, limits=limits) for _ in kiosks]
    try:
        sessions = await asyncio.gather(*(
            _kiosk(client, key, terminal.terminal_id, holder, random.Random(rng.random()), outcome, logins, all_in)
            for client, (terminal, key), holder in zip(clients, kiosks, holders, strict=True)))
    finally:
        for client in clients:
            await client.aclose()
    holder_of = {terminal.terminal_id: holder.name for (terminal, _), holder in zip(kiosks, holders, strict=True)}

    assert len(outcome.documents) == KIOSKS * REQUESTS_PER_KIOSK + outcome.reissues
    assert outcome.retries > 0 and outcome.reissues > 0
    assert set(outcome.refusals) == {"DOCUMENT_ALREADY_HANDED"}
    loop = asyncio.get_running_loop()
    texts = await asyncio.gather(*(loop.run_in_executor(None, _names, pdf) for _, pdf in outcome.documents.values()))
    wrong = []
    for (issuance_id, (terminal, _)), text in zip(outcome.documents.items(), texts, strict=True):
        others = [h.name for h in holders if h.name != holder_of[terminal] and "".join(h.name.split()) in text]
        if "".join(holder_of[terminal].split()) not in text or others:
            wrong.append((issuance_id, terminal, others))
    assert wrong == []  # 0 documents for anyone but the card holder at that kiosk

    async with sf() as session:
        rows = (await session.execute(select(CertificateIssuance.subject_person_id, KioskSession.person_id,
                                             CertificateIssuance.state, CertificateIssuance.document)
                                      .join(KioskSession, KioskSession.id == CertificateIssuance.kiosk_session_id)
                                      .where(KioskSession.id.in_([uuid.UUID(s) for s in sessions])))).all()
        open_sessions = await session.scalar(select(func.count()).select_from(KioskSession)
                                             .where(KioskSession.ended_at.is_(None)))
    assert len(rows) == len(outcome.documents)
    assert all(subject == holder for subject, holder, _, _ in rows)
    assert {state for _, _, state, _ in rows} <= {IssuanceState.PRINTED, IssuanceState.VOID}
    assert all(document is None for *_, document in rows)  # nothing left on the server to hand to anyone
    assert open_sessions == 0
