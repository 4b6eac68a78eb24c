"""The token endpoint's unit of work (api.oidc.server.Provider.run with short writes): a client assertion or a DPoP
proof used twice is refused, and a code used by someone else between the read and the write is refused with
nothing of the loser's written but its assertion's replay record."""

from __future__ import annotations

import secrets
import time
from typing import Any

from anyio import to_thread
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session

from api.exchange.models import ExchangeRecord
from api.oidc.claims import ID_TOKEN_DUTY
from api.oidc.clients import review_client
from api.oidc.http import OidcEndpoints
from api.oidc.models import ClientStatus, OidcAuthorizationCode, OidcSeenJwt, OidcToken
from api.oidc.stored import PortalRequest, digest
from api.platform.db import utcnow
from tests.api.conftest import Portal
from tests.api.oidc.conftest import ISSUER, REDIRECT, RelyingParty, add_client, login

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def _code(portal: Portal, rp: RelyingParty) -> tuple[str, str]:
    async with rp.oauth(portal) as oauth:
        response, _, verifier = await login(portal, rp, oauth)
    return response.split("code=")[1].split("&")[0], verifier


def _form(rp: RelyingParty, code: str, verifier: str, assertion: str | None = None) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion or private_key_jwt_sign(rp.key, rp.client_id, f"{ISSUER}/oidc/token",
                                                                  alg="ES256")}


async def _count(portal: Portal, statement: Any) -> int:
    async with portal.app.state.session_factory() as session:
        return await session.scalar(statement)


async def _records(portal: Portal) -> int:
    return await _count(portal, select(func.count()).select_from(ExchangeRecord)
                        .where(ExchangeRecord.duty == ID_TOKEN_DUTY))


async def test_a_client_assertion_is_accepted_once(portal: Portal, etax: RelyingParty) -> None:
    first, verifier1 = await _code(portal, etax)
    second, verifier2 = await _code(portal, etax)
    assertion = private_key_jwt_sign(etax.key, etax.client_id, f"{ISSUER}/oidc/token", alg="ES256")
    assert (await portal.client.post("/oidc/token", data=_form(etax, first, verifier1, assertion))).status_code == 200
    records = await _records(portal)
    assert records == 1
    replayed = await portal.client.post("/oidc/token", data=_form(etax, second, verifier2, assertion))
    assert (replayed.status_code, replayed.json()) == (400, {"error": "invalid_client",
                                                             "error_description": "JWT ID is used before."})
    assert replayed.headers["cache-control"] == "no-store"
    # Nothing of the refused exchange stays: its code unused, no token, no release on the record.
    assert await _count(portal, select(OidcAuthorizationCode.used_at).where(
        OidcAuthorizationCode.code_hash == digest(second))) is None
    assert await _count(portal, select(func.count()).select_from(OidcToken)) == 1
    assert await _records(portal) == records
    # … and the code still works with a fresh assertion.
    assert (await portal.client.post("/oidc/token", data=_form(etax, second, verifier2))).status_code == 200
    assert await _records(portal) == 2


async def test_a_dpop_proof_is_accepted_once_at_the_token_endpoint(portal: Portal) -> None:
    rp = await add_client(portal, "fapirp", "FAPI RP", require_dpop=True)
    key = ECKey.generate_key("P-256", private=True)
    proof = jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)},
                       {"jti": secrets.token_urlsafe(12), "htm": "POST", "htu": f"{ISSUER}/oidc/token",
                        "iat": int(time.time())}, key, algorithms=["ES256"])
    first, verifier1 = await _code(portal, rp)
    second, verifier2 = await _code(portal, rp)
    answer = await portal.client.post("/oidc/token", headers={"DPoP": proof}, data=_form(rp, first, verifier1))
    assert (answer.status_code, answer.json()["token_type"]) == (200, "DPoP")
    replayed = await portal.client.post("/oidc/token", headers={"DPoP": proof}, data=_form(rp, second, verifier2))
    assert (replayed.status_code, replayed.json()) == (400, {"error": "invalid_dpop_proof",
                                                             "error_description": "The DPoP proof was used before."})
    assert await _count(portal, select(func.count()).select_from(OidcToken)) == 1
    assert await _count(portal, select(OidcAuthorizationCode.used_at).where(
        OidcAuthorizationCode.code_hash == digest(second))) is None


async def test_a_code_used_between_the_read_and_the_write(portal: Portal, etax: RelyingParty) -> None:
    """Another exchange takes the code after this one read it: at the write, this one is refused (invalid_grant),
    its token and record are not written, the winner's token is not revoked, its assertion id is remembered."""
    code, verifier = await _code(portal, etax)
    endpoints = OidcEndpoints(portal.app.state.settings, portal.app.state.session_factory)
    provider = endpoints.provider
    form = _form(etax, code, verifier)
    request = PortalRequest("POST", f"{ISSUER}/oidc/token", {}, {}, {key: [value] for key, value in form.items()})

    def race() -> Any:
        answer = provider.create_token_response(request)  # read, verified and signed: nothing written yet
        with Session(endpoints.sync_engine) as other, other.begin():  # the other exchange wins the code
            other.execute(update(OidcAuthorizationCode).where(OidcAuthorizationCode.code_hash == digest(code))
                          .values(used_at=utcnow()))
        return answer

    records = await _records(portal)
    try:
        status, body, _ = await to_thread.run_sync(lambda: provider.run(race, short_writes=True))
    finally:
        endpoints.close()
    assert (status, body) == (400, {"error": "invalid_grant", "error_description": "Invalid 'code' in request."})
    assert await _count(portal, select(func.count()).select_from(OidcToken)) == 0
    assert await _records(portal) == records
    assert await _count(portal, select(func.count()).select_from(OidcSeenJwt)
                        .where(OidcSeenJwt.issuer == f"client:{etax.client_id}")) == 1


async def test_a_code_exchange_reads_once_and_writes_once_on_postgresql(portal: Portal, etax: RelyingParty) -> None:
    """The token endpoint's statements (api.oidc.exchange): one read (client, code, consent, person); on PostgreSQL
    one write (the assertion's replay record, the token, the code's use, the release on the record), on SQLite one
    statement per row. Counted on the provider's synchronous engine, on a second exchange (the first looks the
    portal's agency up once)."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not conn.dialect.is_async:  # the provider's engine, not the app's async one
            statements.append(statement.split(None, 1)[0])

    for _ in range(2):
        code, verifier = await _code(portal, etax)
        statements.clear()
        event.listen(Engine, "before_cursor_execute", seen)
        try:
            answer = await portal.client.post("/oidc/token", data=_form(etax, code, verifier))
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        assert answer.status_code == 200, answer.text
    if portal.app.state.engine.dialect.name == "postgresql":
        assert statements == ["SELECT", "WITH"]
    else:
        # The read transaction, then the short write one (api.oidc.server.Provider.run): the assertion's id, the
        # token, the code's use, the record's leaf and the record.
        assert statements == ["BEGIN", "SELECT", "BEGIN", "INSERT", "INSERT", "UPDATE", "INSERT", "INSERT"]
    assert await _records(portal) == 2
    assert await _count(portal, select(func.count()).select_from(OidcToken).where(OidcToken.revoked_at.is_(None))) == 2
    assert await _count(portal, select(func.count()).select_from(OidcAuthorizationCode)
                        .where(OidcAuthorizationCode.used_at.is_not(None))) == 2


async def test_a_suspended_clients_code_is_not_exchanged(portal: Portal, etax: RelyingParty) -> None:
    """The client is read with the code on every exchange: suspended after the code was issued, it is refused
    and nothing is written (not even the assertion's id: the assertion was never verified)."""
    code, verifier = await _code(portal, etax)
    await review_client(portal.app.state.session_factory, etax.client_id, ClientStatus.SUSPENDED)
    refused = await portal.client.post("/oidc/token", data=_form(etax, code, verifier))
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_client")
    assert await _count(portal, select(OidcAuthorizationCode.used_at).where(
        OidcAuthorizationCode.code_hash == digest(code))) is None
    assert await _count(portal, select(func.count()).select_from(OidcToken)) == 0
    assert await _count(portal, select(func.count()).select_from(OidcSeenJwt)) == 0
    assert await _records(portal) == 0
