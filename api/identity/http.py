"""HTTP endpoints of the identity domain: OCSP responder and CRLs of the sandbox CA, and the RFC 8628
device endpoints (device authorization, token, verification page).

Mounted through ``ROUTE_FACTORIES`` in api.app. The OAuth endpoints answer in the RFC 6749/8628 JSON
error format (that is the protocol TVs speak); the PKI endpoints answer RFC 9457 problems on bad input.
"""

from __future__ import annotations

import base64
import binascii
import html
import urllib.parse
from typing import Any

import segno
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.identity.device import DeviceTokenError
from api.identity.errors import IdentityRefused
from api.identity.pki_models import IssuedCertificate
from api.identity.sandbox_ca import AUTHORITIES, ocsp_answer, ocsp_error
from api.identity.service import IdentityService
from api.settings import Settings

MAX_OCSP_REQUEST = 4096
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


def identity_service(state: Any) -> IdentityService:
    """The app's one IdentityService (its revocation cache is per process), made on first use."""
    service = getattr(state, "identity", None)
    if service is None:
        service = IdentityService.from_settings(state.settings, state.session_factory)
        state.identity = service
    return service


def problem(status: int, title: str, code: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "code": code},
                        status_code=status, media_type="application/problem+json")


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"cache-control": "no-store"})


async def _ocsp(request: Request) -> Response:
    service = identity_service(request.app.state)
    if service.ca is None:
        return problem(404, "This server runs no sandbox CA.", "NOT_FOUND")
    if request.method == "POST":
        body = await request.body()
    else:
        try:
            body = base64.b64decode(urllib.parse.unquote(request.path_params["encoded"]), validate=True)
        except (binascii.Error, ValueError):
            body = b""
    try:
        if len(body) > MAX_OCSP_REQUEST:
            raise ValueError("request too large")
        ocsp_request = ocsp.load_der_ocsp_request(body)
    except ValueError:
        return Response(ocsp_error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST), media_type="application/ocsp-response")
    authority = service.ca.authority_for_key_hash(ocsp_request.issuer_key_hash, ocsp_request.hash_algorithm)
    if authority is None:
        return Response(ocsp_error(ocsp.OCSPResponseStatus.UNAUTHORIZED), media_type="application/ocsp-response")
    async with service.session_factory() as session:
        issued = await session.scalar(select(IssuedCertificate).where(
            IssuedCertificate.issuer == authority.name,
            IssuedCertificate.serial == f"{ocsp_request.serial_number:x}"))
    if issued is None:
        status, revoked_at, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
    elif issued.revoked_at is not None:
        status, revoked_at, reason = ocsp.OCSPCertStatus.REVOKED, issued.revoked_at, issued.revocation_reason
    else:
        status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
    answer = ocsp_answer(authority, ocsp_request, status, revoked_at=revoked_at, reason=reason, now=service.clock())
    return Response(answer, media_type="application/ocsp-response")


async def _crl(request: Request) -> Response:
    service = identity_service(request.app.state)
    issuer = request.path_params["issuer"]
    if service.ca is None or AUTHORITIES.get(issuer, (None,))[0] is None:
        return problem(404, "No such CRL.", "NOT_FOUND")
    async with service.session_factory() as session:
        rows = (await session.execute(select(IssuedCertificate.serial, IssuedCertificate.revoked_at,
                                             IssuedCertificate.revocation_reason)
                                      .where(IssuedCertificate.issuer == issuer,
                                             IssuedCertificate.revoked_at.is_not(None)))).all()
    der = service.ca.crl(issuer, [(int(serial, 16), at, reason) for serial, at, reason in rows], now=service.clock())
    return Response(der, media_type="application/pkix-crl")


async def _roots(request: Request) -> Response:
    service = identity_service(request.app.state)
    pem = b"".join(anchor.public_bytes(serialization.Encoding.PEM) for anchor in service.chains.anchors)
    return Response(pem, media_type="application/x-pem-file")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _device_authorization(request: Request) -> Response:
    form = await _form(request)
    client_id = form.get("client_id", "")
    if not 1 <= len(client_id) <= 100:
        return oauth_error("invalid_request", "client_id is required.")
    service = identity_service(request.app.state)
    try:
        started = await service.start_device(client_id, form.get("scope"))
    except DeviceTokenError as error:
        return oauth_error(error.error, str(error))
    verification_uri = f"{service.settings.public_url}/device"
    complete = f"{verification_uri}?user_code={started.user_code}"
    return JSONResponse({
        "device_code": started.device_code,
        "user_code": started.user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": complete,
        "expires_in": started.expires_in,
        "interval": started.interval,
        "scope": " ".join(sorted(started.scopes)),
        # For the TV screen: scanning it opens the verification page with the code filled in.
        "qr_code": segno.make(complete, error="m").svg_data_uri(),
    }, headers={"cache-control": "no-store"})


async def _token(request: Request) -> Response:
    form = await _form(request)
    service = identity_service(request.app.state)
    grant_type = form.get("grant_type")
    try:
        if grant_type == DEVICE_GRANT_TYPE:
            pair = await service.poll_device(form.get("device_code", ""), form.get("client_id", ""))
        elif grant_type == "refresh_token":
            pair = await service.refresh(form.get("refresh_token", ""))
        else:
            return oauth_error("unsupported_grant_type", "Use the device_code or refresh_token grant.")
    except DeviceTokenError as error:
        return oauth_error(error.error, str(error))
    except IdentityRefused as refused:
        return oauth_error("invalid_grant", str(refused))
    return JSONResponse({"access_token": pair.access_token, "token_type": "Bearer", "expires_in": pair.expires_in,
                         "refresh_token": pair.refresh_token, "scope": " ".join(sorted(pair.scopes))},
                        headers={"cache-control": "no-store"})


async def _device_page(request: Request) -> Response:
    code = html.escape(request.query_params.get("user_code", "")[:9])
    shown = f"<p class='code'>{code}</p>" if code else ""
    return HTMLResponse(
        "<!doctype html><html lang='ja'><meta charset='utf-8'><title>テレビでサインイン</title>"
        "<h1>テレビでサインイン / Sign in on your TV</h1>"
        f"{shown}<p>マイナポータルアプリでこのコードを入力し、承認してください。"
        "Open the Mynaportal app on your signed-in phone, enter this code and approve.</p></html>",
        headers={"cache-control": "no-store"})


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    return [
        Route("/pki/ocsp", _ocsp, methods=["POST"]),
        Route("/pki/ocsp/{encoded:path}", _ocsp, methods=["GET"]),
        Route("/pki/crl/{issuer}.crl", _crl, methods=["GET"]),
        Route("/pki/roots.pem", _roots, methods=["GET"]),
        Route("/oauth/device_authorization", _device_authorization, methods=["POST"]),
        Route("/oauth/token", _token, methods=["POST"]),
        Route("/device", _device_page, methods=["GET"]),
    ]
