"""The floor under bench_oidc.py's token endpoint: the least a code exchange must do, on the same stack.

A bare Starlette route on uvicorn (one worker, no middleware): the form parsed, the client's ES256 assertion
verified (joserfc), the code used once and the token stored in one statement on async SQLAlchemy (PostgreSQL),
PKCE S256 checked, an ES256 ID token signed. No Authlib, no client row read, no assertion replay record, no
release on the person's record, no rate limit, no access log or metrics. Its CPU per exchange is what the
portal's figure should be compared with; its rate is what this machine allows an exchange on this stack at all.

Two clients, each on this machine beside the server: bench_oidc.py's (asyncio + httpx, 16 connections) and wrk
(one thread, 16 connections, each request a pre-built body: each code is used once).

    .venv/bin/python tests/benchmarks/bench_oidc_floor.py [--requests 3000] [--wrk-seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parents[2]
REDIRECT = "http://127.0.0.1:9100/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EXCHANGE = ("WITH used AS (UPDATE floor_codes SET used_at = now() WHERE code_hash = :code AND used_at IS NULL "
            "RETURNING challenge), stored AS (INSERT INTO floor_tokens (token_hash, issued_at) SELECT :token, now() "
            "FROM used RETURNING 1) SELECT challenge FROM used, stored")
# wrk: one body per request, in order; the statuses counted.
WRK_SCRIPT = """
local bodies, i, ok = {}, 0, 0
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function() i = i + 1; return wrk.format(nil, nil, nil, bodies[((i - 1) % #bodies) + 1]) end
done = function(summary, latency, requests)
  io.write(string.format("wrk %d %.3f %.1f %.1f\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def create_app() -> Any:
    """The floor's app (uvicorn --factory), configured by FLOOR_DATABASE_URL and FLOOR_CLIENT_JWK."""
    from joserfc import jwt
    from joserfc.jwk import ECKey
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    engine = create_async_engine(os.environ["FLOOR_DATABASE_URL"], pool_size=20)
    client_key = ECKey.import_key(json.loads(os.environ["FLOOR_CLIENT_JWK"]))
    signing_key = ECKey.generate_key("P-256", {"alg": "ES256", "kid": "floor"}, private=True)
    exchange = text(EXCHANGE)

    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        claims = jwt.decode(form["client_assertion"], client_key, algorithms=["ES256"]).claims
        if claims.get("iss") != "benchrp" or claims.get("exp", 0) < time.time():
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        access = secrets.token_urlsafe(32)
        async with engine.begin() as connection:
            challenge = (await connection.execute(exchange, {
                "code": hashlib.sha256(form["code"].encode()).digest(),
                "token": hashlib.sha256(access.encode()).digest()})).scalar()
        verifier = hashlib.sha256(form["code_verifier"].encode()).digest()
        if challenge is None or challenge != base64.urlsafe_b64encode(verifier).rstrip(b"=").decode():
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        id_token = jwt.encode({"alg": "ES256", "kid": "floor"}, {
            "iss": "http://127.0.0.1", "sub": "pairwise", "aud": "benchrp", "iat": now, "exp": now + 300,
            "nonce": "n", "name": "山田 太郎"}, signing_key)
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300,
                             "id_token": id_token}, headers={"cache-control": "no-store"})

    return Starlette(routes=[Route("/oidc/token", token, methods=["POST"])])


def _prepare(url: str, count: int, issuer: str) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The floor's two tables, ``count`` codes; the requests' forms (assertions signed before the clock starts)."""
    from authlib.oauth2.rfc7523 import private_key_jwt_sign
    from joserfc.jwk import ECKey
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    codes = [secrets.token_urlsafe(32) for _ in range(count)]
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE floor_codes (code_hash bytea PRIMARY KEY, challenge text NOT NULL, "
                                "used_at timestamptz)"))
        connection.execute(text("CREATE TABLE floor_tokens (token_hash bytea PRIMARY KEY, "
                                "issued_at timestamptz NOT NULL)"))
        connection.execute(text("INSERT INTO floor_codes VALUES (:code_hash, :challenge, NULL)"), [
            {"code_hash": hashlib.sha256(code.encode()).digest(), "challenge": challenge} for code in codes])
    engine.dispose()
    key = ECKey.generate_key("P-256", {"alg": "ES256"}, private=True)
    forms = [{"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
              "client_assertion_type": ASSERTION_TYPE,
              "client_assertion": private_key_jwt_sign(key, "benchrp", f"{issuer}/oidc/token", alg="ES256")}
             for code in codes]
    return forms, key.as_dict(private=False)


def _used(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        used = connection.execute(text("SELECT count(*) FROM floor_tokens")).scalar_one()
    engine.dispose()
    return int(used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="exchanges for the httpx client")
    parser.add_argument("--wrk-seconds", type=int, default=6)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import httpx

    from tests.benchmarks.bench_graphql_viewer import wait_ready
    from tests.benchmarks.bench_oidc import _load, _report, cpu_seconds, free_port

    admin = os.environ.get("MYNAPORTAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    for client in ("httpx", "wrk"):
        name = f"bench_oidc_floor_{os.getpid()}_{client}"
        subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
        url = admin.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0] + f"/{name}"
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        server = None
        try:
            # wrk runs for a time, not a count: enough codes for 2,000 exchanges/s (800 ran out on a quiet machine).
            count = args.requests if client == "httpx" else args.wrk_seconds * 2000
            forms, client_jwk = _prepare(url, count, issuer)
            env = {**os.environ, "FLOOR_DATABASE_URL": url, "FLOOR_CLIENT_JWK": json.dumps(client_jwk),
                   "PYTHONPATH": str(Path(__file__).parent)}
            server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_oidc_floor:create_app", "--factory",
                                       "--port", str(port), "--no-access-log", "--log-level", "warning"], env=env)
            wait_ready(issuer)
            before = cpu_seconds(server.pid)
            if client == "httpx":
                requests = [httpx.Request("POST", f"{issuer}/oidc/token", data=form) for form in forms]
                measured = asyncio.run(_load(requests, 16))
                _report("floor token endpoint, httpx client", len(requests), *measured,
                        cpu_seconds(server.pid) - before)
                continue
            with tempfile.TemporaryDirectory() as folder:
                bodies, script = Path(folder) / "bodies.txt", Path(folder) / "bodies.lua"
                bodies.write_text("".join(urlencode(form) + "\n" for form in forms))
                script.write_text(WRK_SCRIPT)
                out = subprocess.run(["wrk", "-t1", "-c16", f"-d{args.wrk_seconds}s", "-s", str(script),
                                      f"{issuer}/oidc/token"], env={**os.environ, "BODIES": str(bodies)},
                                     capture_output=True, text=True, check=True).stdout
            cpu = cpu_seconds(server.pid) - before
            sent, seconds, p50, p99 = re.search(r"wrk (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out).groups()  # type: ignore[union-attr]
            done = _used(url)
            print(f"floor token endpoint, wrk client: {done / float(seconds):.0f} exchanges/s ({done} of {sent} "
                  f"requests in {float(seconds):.1f} s{'; codes ran out' if int(sent) > len(forms) else ''}); "
                  f"p50 {p50} ms, p99 {p99} ms; server CPU {cpu / int(sent) * 1000:.2f} ms per request")
        finally:
            if server is not None:
                server.terminate()
                server.wait()
            subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)
    print(f"database postgresql; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
