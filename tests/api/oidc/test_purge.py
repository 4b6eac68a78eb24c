"""`mynaportal oidc purge` (api.oidc.purge): what ended more than the grace ago goes, in batches; what still matters
stays (a live token and its code, rows within the grace); the operator's command on a fresh SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.oidc.models import (
    OidcAuthorizationCode,
    OidcConsent,
    OidcLoginRequest,
    OidcPushedRequest,
    OidcSeenJwt,
    OidcToken,
)
from api.oidc.purge import PurgeReport, purge
from api.platform.db import create_engine, utcnow
from tests.api.conftest import Portal
from tests.api.oidc.conftest import ISSUER, RelyingParty, login
from tests.api.test_cli import env, run  # noqa: F401  (the env fixture)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def _hash() -> bytes:
    return hashlib.sha256(secrets.token_bytes(16)).digest()


def _code(consent: OidcConsent, *, expires_at: datetime) -> dict[str, object]:
    return {"id": uuid.uuid4(), "code_hash": _hash(), "client_pk": consent.client_pk, "person_id": consent.person_id,
            "consent_id": consent.id, "redirect_uri": "http://127.0.0.1:9100/callback", "scope": "openid",
            "nonce": "n", "code_challenge": "c", "code_challenge_method": "S256", "auth_time": expires_at,
            "created_at": expires_at - timedelta(seconds=60), "expires_at": expires_at}


def _token(consent: OidcConsent, *, expires_at: datetime, code_id: uuid.UUID | None = None,
           revoked_at: datetime | None = None) -> dict[str, object]:
    return {"id": uuid.uuid4(), "access_token_hash": _hash(), "client_pk": consent.client_pk,
            "person_id": consent.person_id, "consent_id": consent.id, "code_id": code_id, "scope": "openid",
            "issued_at": expires_at - HOUR, "expires_at": expires_at, "revoked_at": revoked_at}


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {model.__tablename__: await connection.scalar(select(func.count()).select_from(model))
                for model in (OidcToken, OidcAuthorizationCode, OidcLoginRequest, OidcPushedRequest, OidcSeenJwt)}


async def test_purge_deletes_what_ended_before_the_grace(portal: Portal, etax: RelyingParty) -> None:
    # A real login: a used code, its live token, the client's assertion id seen, a completed login request.
    async with etax.oauth(portal) as oauth:
        response, state, verifier = await login(portal, etax, oauth)
        token = await oauth.fetch_token(f"{ISSUER}/oidc/token", authorization_response=response, state=state,
                                        code_verifier=verifier)
    engine = portal.app.state.engine
    now = utcnow()
    async with engine.begin() as connection:
        consent = (await connection.execute(select(OidcConsent))).one()
        old_code, recent_code = _code(consent, expires_at=now - 2 * HOUR), _code(consent, expires_at=now - MINUTE * 10)
        token_of_old_code = _token(consent, expires_at=now - 2 * HOUR, code_id=old_code["id"])
        await connection.execute(insert(OidcAuthorizationCode), [
            old_code, recent_code, _code(consent, expires_at=now - 3 * HOUR)])
        await connection.execute(insert(OidcToken), [
            token_of_old_code, _token(consent, expires_at=now + HOUR, revoked_at=now - 2 * HOUR),
            _token(consent, expires_at=now + HOUR, revoked_at=now - MINUTE),
            _token(consent, expires_at=now - MINUTE * 30)])
        await connection.execute(insert(OidcSeenJwt), [
            {"issuer": "dpop", "jti": f"old-{n}", "expires_at": now - 2 * HOUR} for n in range(5)] + [
            {"issuer": "dpop", "jti": "fresh", "expires_at": now - MINUTE}])
        await connection.execute(insert(OidcPushedRequest), [
            {"id": uuid.uuid4(), "request_uri_hash": _hash(), "client_pk": consent.client_pk, "parameters": {},
             "created_at": when - timedelta(seconds=60), "expires_at": when} for when in (now - 2 * HOUR, now)])
        await connection.execute(insert(OidcLoginRequest), [{
            "id": uuid.uuid4(), "client_pk": consent.client_pk, "short_code": "OLD2345A", "browser_secret_hash":
            _hash(), "parameters": {}, "scopes": "openid", "force_consent": False, "status": "pending",
            "created_at": now - 2 * HOUR, "expires_at": now - 2 * HOUR + timedelta(minutes=5)}])
    before = await _counts(engine)
    assert before == {"oidc_tokens": 5, "oidc_authorization_codes": 4, "oidc_login_requests": 2,
                      "oidc_pushed_requests": 2, "oidc_seen_jwts": 7}

    report = await purge(engine, now=now, grace=HOUR, batch=2)
    # Tokens: the old code's and the one revoked 2 h ago (not the one revoked a minute ago, nor the one expired
    # 30 min ago: within the grace). Codes: the two old ones once their tokens went (not the live login's, not the
    # one within the grace). The old login request (not the completed one of minutes ago), the old pushed request,
    # the five old JWT ids in batches of two.
    assert report == PurgeReport(tokens=2, codes=2, login_requests=1, pushed_requests=1, seen_jwts=5)
    assert await _counts(engine) == {"oidc_tokens": 3, "oidc_authorization_codes": 2, "oidc_login_requests": 1,
                                     "oidc_pushed_requests": 1, "oidc_seen_jwts": 2}
    async with engine.connect() as connection:
        kept_codes = set(await connection.scalars(select(OidcAuthorizationCode.id)))
    assert recent_code["id"] in kept_codes and old_code["id"] not in kept_codes
    # The live token still reads userinfo; a second purge finds nothing.
    answer = await portal.client.get("/oidc/userinfo", headers={"authorization": f"Bearer {token['access_token']}"})
    assert answer.status_code == 200
    assert await purge(engine, now=now, grace=HOUR) == PurgeReport(0, 0, 0, 0, 0)


async def _add_old_jwt_ids(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(insert(OidcSeenJwt), [
            {"issuer": "client:x", "jti": str(n), "expires_at": utcnow() - timedelta(days=1)} for n in range(3)])
    await engine.dispose()


def test_the_operators_command(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    assert run(env, "migrate").returncode == 0
    asyncio.run(_add_old_jwt_ids(env["MYNAPORTAL_DATABASE_URL"].replace("sqlite://", "sqlite+aiosqlite://", 1)))
    result = run(env, "oidc", "purge", "--batch", "2", "--grace", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("oidc purge: deleted 0 tokens, 0 authorization codes, 0 login requests, "
                                     "0 pushed requests, 3 seen JWT ids")
    refused = run(env, "oidc", "purge", "--batch", "0")
    assert (refused.returncode, refused.stderr.strip()) == (
        1, "mynaportal oidc purge: --batch is at least 1, --grace at least 0")
