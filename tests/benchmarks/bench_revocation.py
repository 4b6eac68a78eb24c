"""Benchmark: the time from `reportCardLost` to the first refused request, on the worker that took the report
and on another worker process, both `mynaportal serve` on loopback against one database.

Each round issues the father a new card, signs in with it on worker A (a real card login: challenge, RSA
signature, chain, OCSP from A's own responder), uses the access token on A and B so both keep it, reports the card
lost on A, then asks A once and B every 5 ms until each refuses. Times are from the moment A's answer to
`reportCardLost` arrived (its transaction committed) and, in brackets, from when that request was sent; for B
also when its last accepted request was sent (the bound is on that: B's entry is at most 1 s old), since on a
loaded machine a request's own round trip adds to when its refusal is seen.

    python tests/benchmarks/bench_revocation.py [--database sqlite|postgresql] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from api.demo import seed_demo  # noqa: E402
from api.identity.cards import issue_virtual_card  # noqa: E402
from api.identity.sandbox_ca import SandboxCA  # noqa: E402
from api.people.individual_number import IndividualNumberCipher  # noqa: E402
from api.platform.db import create_engine, create_session_factory, dispose_engine  # noqa: E402
from tests.benchmarks.bench_payments import database  # noqa: E402
from tests.conftest import TEST_DATA_KEY, TEST_LOOKUP_KEY  # noqa: E402
from tests.payments.conftest import child_env, free_port, mynaportal, wait_until_up  # noqa: E402

VIEWER = {"query": "{ viewer { name } }"}
LOST = {"query": "mutation { reportCardLost { revokedCertificates } }"}
START = "mutation($c: String!) { startCardLogin(clientId: $c) { challengeId toBeSigned } }"
COMPLETE = "mutation($i: CompleteCardLoginInput!) { completeCardLogin(input: $i) { accessToken } }"
CLIENT = "jp.go.mynaportal.bench"


def _der(cert: object) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()  # type: ignore[attr-defined]


async def _refused(client: httpx.AsyncClient, token: str) -> bool:
    answer = (await client.post("/graphql", json=VIEWER, headers={"authorization": f"Bearer {token}"})).json()
    if "errors" in answer:
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", answer
        return True
    return False


async def one_round(url: str, ca: SandboxCA, cipher: IndividualNumberCipher, person: object,
                    a: httpx.AsyncClient, b: httpx.AsyncClient) -> tuple[float, float, float, float]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            _, card = await issue_virtual_card(session, ca, cipher, person)  # type: ignore[arg-type]
    finally:
        await dispose_engine(engine)
    challenge = (await a.post("/graphql", json={"query": START, "variables": {"c": CLIENT}})).json()
    challenge = challenge["data"]["startCardLogin"]
    signature = card.auth_key.sign(base64.b64decode(challenge["toBeSigned"]), padding.PKCS1v15(), hashes.SHA256())
    signed_in = (await a.post("/graphql", json={"query": COMPLETE, "variables": {"i": {
        "challengeId": challenge["challengeId"], "clientId": CLIENT, "certificate": _der(card.auth_certificate),
        "chain": [_der(card.auth_ca_certificate)], "signature": base64.b64encode(signature).decode()}}})).json()
    token = signed_in["data"]["completeCardLogin"]["accessToken"]
    for worker in (b, a):  # both keep the token; B's entry is at most this fresh
        assert not await _refused(worker, token)

    sent = time.perf_counter()
    lost = await a.post("/graphql", json=LOST, headers={"authorization": f"Bearer {token}"})
    answered = time.perf_counter()
    assert lost.json()["data"]["reportCardLost"]["revokedCertificates"] == 2, lost.text
    assert await _refused(a, token), "the revoking worker answered a revoked token"
    on_a = time.perf_counter() - answered
    last_accepted = answered
    while True:
        asked = time.perf_counter()
        if await _refused(b, token):
            break
        last_accepted = asked
        await asyncio.sleep(0.005)
    on_b = time.perf_counter() - answered
    return on_a, on_b, answered - sent, last_accepted - answered


def _summary(label: str, values: list[float], request: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    total = sorted((v + r) * 1000 for v, r in zip(values, request, strict=True))
    return (f"{label}: median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms after the answer "
            f"[median {statistics.median(total):.1f} ms, max {total[-1]:.1f} ms after the request was sent]")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cpus, database {args.database}, "
          f"{args.rounds} rounds")
    url, cleanup = await database(args.database)
    home = Path(tempfile.mkdtemp(prefix="bench-revocation-"))
    ports = free_port(), free_port()
    public_url = f"http://127.0.0.1:{ports[0]}"  # the certificates' OCSP and CRL addresses: worker A
    ca = SandboxCA.load_or_create(home / "ca", public_url)
    cipher = IndividualNumberCipher(TEST_DATA_KEY, TEST_LOOKUP_KEY)
    engine = create_engine(url)
    async with create_session_factory(engine)() as session, session.begin():
        father = (await seed_demo(session, cipher)).people[0]
    await dispose_engine(engine)
    env = child_env(MYNAPORTAL_DATABASE_URL=url, MYNAPORTAL_SANDBOX_CA_DIR=str(home / "ca"),
                    MYNAPORTAL_PUBLIC_URL=public_url, MYNAPORTAL_LOGIN_LIMIT_PER_CERTIFICATE="1000",
                    MYNAPORTAL_LOG_LEVEL="WARNING")
    workers = [subprocess.Popen(  # noqa: ASYNC220 - started once, before any request
        mynaportal("serve", "--port", str(port)), env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    try:
        for port, worker in zip(ports, workers, strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/readyz", worker)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=10) as a, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}", timeout=10) as b:
            results = [await one_round(url, ca, cipher, father, a, b) for _ in range(args.rounds)]
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=20)
        if cleanup:
            cleanup()
    on_a, on_b, request, accepted = ([r[i] for r in results] for i in range(4))
    print(f"reportCardLost itself: median {statistics.median(request) * 1000:.1f} ms")
    print(_summary("first refused request on the revoking worker A", on_a, request))
    print(_summary("first refused request on the other worker B (polled every 5 ms)", on_b, request))
    print(f"last request B still accepted was sent: max {max(accepted) * 1000:.1f} ms after the answer")


if __name__ == "__main__":
    asyncio.run(main())
