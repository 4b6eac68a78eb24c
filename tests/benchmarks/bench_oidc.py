"""The OpenID Provider's hot paths through uvicorn on loopback (one worker): code exchanges per second at the token
endpoint (private_key_jwt verified, PKCE S256 checked, ES256 ID token signed, the release written on the person's
record) and userinfo reads per second (the token's joined check, the claims, the record write); p50 and p99.
Goal: 300/s each. The client (asyncio + httpx, N connections) shares the machine's cores with the server; the
assertions are signed before the clock starts (a relying party's cost, not the portal's).

    .venv/bin/python tests/benchmarks/bench_oidc.py [--requests 1500] [--connections 16]
        [--database sqlite|postgresql]   (PostgreSQL from MYNAPORTAL_TEST_POSTGRES_URL's server)
        [--dpop]   (DPoP-bound tokens: each exchange and each userinfo read with its own proof, replay checked)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GOAL = 300
REDIRECT = "http://127.0.0.1:9100/callback"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dpop_proofs(key: Any, count: int, method: str, url: str, access_token: str | None = None) -> list[str]:
    """``count`` proofs of one key (RFC 9449), each its own jti, signed before the clock starts (the RP's cost)."""
    from joserfc import jwt

    from api.oidc.dpop import access_token_hash

    extra = {"ath": access_token_hash(access_token)} if access_token else {}
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return [jwt.encode(header, {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url, "iat": int(time.time()),
                                **extra}, key, algorithms=["ES256"]) for _ in range(count)]


async def _prepare(env: dict[str, str], codes: int, issuer: str, dpop_key: Any = None,
                   ) -> tuple[list[str], str, list[str], str]:
    """A client, a consent, ``codes`` codes (one verifier), the assertions; and one access token for userinfo
    (bound to ``dpop_key`` if given)."""
    os.environ.update(env)
    from authlib.oauth2.rfc7523 import private_key_jwt_sign
    from joserfc.jwk import ECKey
    from sqlalchemy import select

    import api.models  # noqa: F401
    from api.oidc.clients import NewClient, register_client, review_client
    from api.oidc.models import ClientStatus, OidcAuthorizationCode, OidcConsent, OidcToken
    from api.people.models import Person
    from api.platform.db import create_engine, create_session_factory, utcnow

    engine = create_engine(env["MYNAPORTAL_DATABASE_URL"])
    factory = create_session_factory(engine)
    key = ECKey.generate_key("P-256", {"alg": "ES256"}, private=True)
    key.ensure_kid()
    client = await register_client(factory, NewClient(
        client_id="benchrp", name="Bench RP", purpose="benchmark", redirect_uris=(REDIRECT,),
        scopes=("openid", "name", "address"), jwks={"keys": [key.as_dict(private=False)]},
        rate_limit_per_minute=100_000))
    await review_client(factory, "benchrp", ClientStatus.APPROVED)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    raw_codes = [secrets.token_urlsafe(32) for _ in range(codes)]
    access = secrets.token_urlsafe(32)
    async with factory() as session, session.begin():
        person = await session.scalar(select(Person.id).order_by(Person.birth_date).limit(1))
        now = utcnow()
        consent = OidcConsent(id=uuid.uuid4(), person_id=person, client_pk=client.id, purpose="benchmark",
                              scopes="openid name address", granted_at=now)
        session.add(consent)
        await session.flush()
        session.add_all([OidcAuthorizationCode(
            code_hash=hashlib.sha256(code.encode()).digest(), client_pk=client.id, person_id=person,
            consent_id=consent.id, redirect_uri=REDIRECT, scope="openid name address", nonce="n",
            code_challenge=challenge, code_challenge_method="S256", auth_time=now, created_at=now,
            expires_at=now + timedelta(hours=1)) for code in raw_codes])
        session.add(OidcToken(access_token_hash=hashlib.sha256(access.encode()).digest(), client_pk=client.id,
                              person_id=person, consent_id=consent.id, scope="openid name address", issued_at=now,
                              expires_at=now + timedelta(hours=1),
                              dpop_jkt=dpop_key.thumbprint() if dpop_key is not None else None))
    await engine.dispose()
    assertions = [private_key_jwt_sign(key, "benchrp", f"{issuer}/oidc/token", alg="ES256") for _ in raw_codes]
    return raw_codes, verifier, assertions, access


async def _load(requests: list[httpx.Request], connections: int) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(reversed(requests))
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=connections)) as client:
        async def worker() -> None:
            while queue:
                request = queue.pop()
                started = time.perf_counter()
                response = await client.send(request)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (a figure the machine's other load does not inflate)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _report(name: str, count: int, elapsed: float, latencies: list[float], statuses: dict[int, int],
            cpu: float) -> None:
    cuts = quantiles(latencies, n=100)
    rate = count / elapsed
    print(f"{name}: {rate:.0f}/s over {count} requests (goal {GOAL}/s: {'met' if rate >= GOAL else 'NOT met'}); "
          f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms; statuses {statuses}; server CPU "
          f"{cpu / count * 1000:.2f} ms per request (= {count / cpu:.0f}/s on one free core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--dpop", action="store_true", help="DPoP-bound tokens, a proof per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        if args.database == "sqlite":
            url = f"sqlite:///{tmp}/bench.sqlite3"
        else:
            admin = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
            name = f"bench_oidc_{os.getpid()}"
            subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
            url = admin.rsplit("/", 1)[0] + f"/{name}"
        env = {**os.environ, "MYNAPORTAL_DATABASE_URL": url, "MYNAPORTAL_PUBLIC_URL": issuer,
               "MYNAPORTAL_DEMO_KEYS_FILE": f"{tmp}/keys.json", "MYNAPORTAL_LOG_LEVEL": "WARNING",
               "MYNAPORTAL_SANDBOX_CA_DIR": f"{tmp}/ca"}
        subprocess.run([BIN / "mynaportal", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([BIN / "mynaportal", "demo-seed"], env=env, check=True, stdout=subprocess.DEVNULL)
        from api.platform.settings import normalise_database_url
        env_async = {**env, "MYNAPORTAL_DATABASE_URL": normalise_database_url(url)}
        dpop_key = None
        if args.dpop:
            from joserfc.jwk import ECKey
            dpop_key = ECKey.generate_key("P-256", private=True)
        codes, verifier, assertions, access = asyncio.run(_prepare(env_async, args.requests, issuer, dpop_key))
        token_proofs: list[str | None] = [None] * len(codes)
        userinfo_proofs: list[str | None] = [None] * args.requests
        if dpop_key is not None:
            token_proofs = list(dpop_proofs(dpop_key, len(codes), "POST", f"{issuer}/oidc/token"))
            userinfo_proofs = list(dpop_proofs(dpop_key, args.requests, "GET", f"{issuer}/oidc/userinfo", access))
        server = subprocess.Popen([BIN / "mynaportal", "serve", "--port", str(port), "--workers", "1"], env=env,
                                  stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"{issuer}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            warm = [httpx.Request("GET", f"{issuer}/oidc/jwks") for _ in range(50)]
            asyncio.run(_load(warm, 4))
            token_requests = [httpx.Request("POST", f"{issuer}/oidc/token", headers={"dpop": proof} if proof else {},
                                            data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion}) for code, assertion, proof in zip(codes, assertions, token_proofs,
                                                                                  strict=True)]
            before = cpu_seconds(server.pid)
            measured = asyncio.run(_load(token_requests, args.connections))
            _report("token (code exchange)", len(token_requests), *measured, cpu_seconds(server.pid) - before)
            userinfo = [httpx.Request("GET", f"{issuer}/oidc/userinfo", headers=(
                {"authorization": f"DPoP {access}", "dpop": proof} if proof else {"authorization": f"Bearer {access}"}))
                        for proof in userinfo_proofs]
            before = cpu_seconds(server.pid)
            measured = asyncio.run(_load(userinfo, args.connections))
            _report("userinfo (record written)", len(userinfo), *measured, cpu_seconds(server.pid) - before)
        finally:
            server.terminate()
            server.wait()
            if args.database == "postgresql":
                subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=False)
        print(f"{'DPoP-bound' if args.dpop else 'bearer'} tokens; database {args.database}; load average "
              f"{os.getloadavg()[0]:.1f} (the machine is shared)")


if __name__ == "__main__":
    main()
