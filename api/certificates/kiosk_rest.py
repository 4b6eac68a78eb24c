"""The kiosk API of コンビニ交付 (what J-LIS's 証明書交付センター does between a store's terminal and the municipality).

A registered kiosk sends its key (``Authorization: Bearer kiosk_…``). The card authenticates with its user-
authentication certificate: the kiosk asks for a challenge, the card signs it (myna-bridge, 4-digit PIN on the
card), api.identity checks the certificate, its chain, revocation and the signature. Then, for that card's
session at that kiosk only: ask for a certificate (fee paid at the kiosk), take its PDF once, report the print,
and end the session when the card leaves. Documented in api/certificates/openapi.py.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.certificates import content, kiosk
from api.certificates.issuing import LazyIssuer
from api.certificates.models import CertificateIssuance, CertificateKind, Kiosk
from api.identity.authentication import authenticate_person
from api.identity.service import ProcessIdentityService
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.settings import Settings
from api.platform.text import json_object

_OPTION_FIELDS = {"household": "household", "honseki": "honseki", "relationship": "relationship",
                  "tax_year": "tax_year"}


def issuance_json(row: CertificateIssuance) -> dict[str, Any]:
    return {"id": str(row.id), "certificate": row.kind.value, "state": row.state.value, "fee": row.fee,
            "pages": row.pages, "serial": row.serial, "issued_at": row.issued_at.isoformat() if row.issued_at else None}


def _b64(body: dict[str, Any], name: str, *, limit: int = 8192) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} must be base64 text.", extensions={"field": name})
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} must be base64 text.",
                          extensions={"field": name}) from error


def _uuid(raw: object, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, f"No such {what}.") from error


def _options(body: dict[str, Any]) -> content.Options:
    raw = body.get("options", {})
    if not isinstance(raw, dict) or not set(raw) <= set(_OPTION_FIELDS):
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"options may hold {', '.join(_OPTION_FIELDS)}.",
                          extensions={"field": "options"})
    for name, value in raw.items():
        wanted = int if name == "tax_year" else bool
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"options.{name} has the wrong type.",
                              extensions={"field": f"options.{name}"})
    return content.Options(**raw)


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession], issuer: LazyIssuer,
           identity: ProcessIdentityService) -> list[BaseRoute]:
    engine = session_factory.kw["bind"]

    async def terminal(request: Request) -> Kiosk:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        found = await kiosk.kiosk_for_key(session_factory, key.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise PortalError(ErrorCode.UNAUTHENTICATED, "Send the kiosk's key as a bearer token.")
        return found

    @answering_problems
    async def challenge(request: Request) -> Response:
        own = await terminal(request)
        started = await identity.service.start_login(kiosk.client_id(own))
        return JSONResponse({"challenge_id": str(started.id), "nonce": base64.b64encode(started.nonce).decode(),
                             "client_id": started.client_id, "expires_at": started.expires_at.isoformat()},
                            status_code=201)

    @answering_problems
    async def open_session(request: Request) -> Response:
        own = await terminal(request)
        body = json_object(await request.body())
        chain = body.get("chain", [])
        if not isinstance(chain, list) or len(chain) > 4:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "chain is a list of at most 4 certificates.",
                              extensions={"field": "chain"})
        pair = await identity.service.complete_login(
            _uuid(body.get("challenge_id"), "challenge"), kiosk.client_id(own), _b64(body, "certificate"),
            [_b64({"c": c}, "c") for c in chain], _b64(body, "signature"), shared_terminal_id=own.terminal_id)
        login = await authenticate_person(engine, pair.access_token)
        opened = await kiosk.open_session(session_factory, own, person_id=pair.person_id,
                                          login_session_id=login.principal.token_id)
        return JSONResponse({"session_id": str(opened.id), "expires_at": opened.expires_at.isoformat()},
                            status_code=201)

    @answering_problems
    async def end(request: Request) -> Response:
        own = await terminal(request)
        login_session = await kiosk.end_session(session_factory, own, _uuid(request.path_params["session_id"],
                                                                            "kiosk session"))
        if login_session is not None:
            await identity.service.end_session(login_session)
        return Response(status_code=204)

    @answering_problems
    async def ask(request: Request) -> Response:
        own = await terminal(request)
        key = request.headers.get("idempotency-key", "")
        if not 1 <= len(key) <= 64 or not key.isascii():
            raise PortalError(ErrorCode.IDEMPOTENCY_KEY_INVALID, "Send an Idempotency-Key of 1-64 ASCII characters.",
                              extensions={"header": "idempotency-key"})
        body = json_object(await request.body())
        try:
            kind = CertificateKind(body.get("certificate"))
        except ValueError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "certificate is one of "
                              f"{', '.join(k.value for k in CertificateKind)}.",
                              extensions={"field": "certificate"}) from error
        receipt = body.get("receipt")
        if not isinstance(receipt, str):
            raise PortalError(ErrorCode.BAD_USER_INPUT, "receipt (the fee's receipt at the kiosk) is required.",
                              extensions={"field": "receipt"})
        replaces = body.get("replaces")
        async with issuer.get().slots:
            row = await kiosk.request(session_factory, issuer.get(), own, _uuid(request.path_params["session_id"],
                                                                            "kiosk session"),
                                      kiosk.KioskRequest(kind, _options(body), key, receipt,
                                                         _uuid(replaces, "document") if replaces is not None else None),
                                      today=date.today())
        return JSONResponse(issuance_json(row), status_code=201)

    @answering_problems
    async def document(request: Request) -> Response:
        own = await terminal(request)
        pdf = await kiosk.take(session_factory, own, _uuid(request.path_params["session_id"], "kiosk session"),
                               _uuid(request.path_params["issuance_id"], "document"))
        return Response(pdf, media_type="application/pdf", headers={"cache-control": "no-store"})

    @answering_problems
    async def printed(request: Request) -> Response:
        own = await terminal(request)
        body = json_object(await request.body())
        if not isinstance(body.get("printed"), bool):
            raise PortalError(ErrorCode.BAD_USER_INPUT, "printed is true or false.", extensions={"field": "printed"})
        state = await kiosk.confirm(session_factory, own, _uuid(request.path_params["session_id"], "kiosk session"),
                                    _uuid(request.path_params["issuance_id"], "document"), printed=body["printed"])
        return JSONResponse({"state": state.value})

    base = "/kiosk/v1/sessions"
    return [Route("/kiosk/v1/challenges", challenge, methods=["POST"]),
            Route(base, open_session, methods=["POST"]),
            Route(base + "/{session_id}", end, methods=["DELETE"]),
            Route(base + "/{session_id}/certificates", ask, methods=["POST"]),
            Route(base + "/{session_id}/certificates/{issuance_id}/document", document, methods=["POST"]),
            Route(base + "/{session_id}/certificates/{issuance_id}/print-result", printed, methods=["POST"])]
