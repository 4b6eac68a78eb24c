"""HTTP endpoints of the identity domain: OCSP responder and CRLs of the sandbox CA, and the RFC 8628
device endpoints (device authorization, token, verification page).

Mounted by api.app with the process's identity service. The OAuth endpoints answer in the RFC 6749/8628 JSON
error format (that is the protocol TVs speak); the PKI endpoints answer RFC 9457 problems on bad input.
"""

from __future__ import annotations

import base64
import binascii
import html
import urllib.parse

import segno
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.identity.device import DeviceRequester, DeviceTokenError
from api.identity.sandbox_ca import AUTHORITIES, ocsp_answer, ocsp_error
from api.identity.service import ProcessIdentityService
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.settings import Settings
from api.platform.text import text_problem

MAX_OCSP_REQUEST = 4096
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"cache-control": "no-store"})


async def _form(request: Request) -> dict[str, str] | Response:
    """The form's text fields, or the OAuth error for a form the parser refuses (bad multipart, too many fields)."""
    try:
        async with request.form() as form:  # closes any uploaded file (a multipart field with a filename)
            return {key: value for key, value in form.items() if isinstance(value, str)}
    except HTTPException as refused:  # Starlette's own 400 would be plain text, not the protocol's JSON error
        return oauth_error("invalid_request", f"The form cannot be read: {refused.detail}")


def _invalid_form(form: dict[str, str]) -> bool:
    """Whether a name or value is not text the portal can store (a NUL was a database error on PostgreSQL)."""
    return any(text_problem(name, 100) is not None or text_problem(value, 4096) is not None
               for name, value in form.items())


async def _device_page(request: Request) -> Response:
    code = html.escape(request.query_params.get("user_code", "")[:9])
    shown = f"<p class='code'>{code}</p>" if code else ""
    return HTMLResponse(
        "<!doctype html><html lang='ja'><meta charset='utf-8'><title>テレビでサインイン</title>"
        "<h1>テレビでサインイン / Sign in on your TV</h1>"
        f"{shown}<p>マイナポータルアプリでこのコードを入力し、承認してください。"
        "Open the Mynaportal app on your signed-in phone, enter this code and approve.</p></html>",
        headers={"cache-control": "no-store"})


def routes(settings: Settings, identity: ProcessIdentityService) -> list[BaseRoute]:
    """The routes, sharing the process's identity service with GraphQL."""

    async def ocsp_responder(request: Request) -> Response:
        service = identity.service
        if service.ca is None:
            raise PortalError(ErrorCode.NOT_FOUND, "This server runs no sandbox CA.")
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
            return Response(ocsp_error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
                            media_type="application/ocsp-response")
        authority = service.ca.authority_for_key_hash(ocsp_request.issuer_key_hash, ocsp_request.hash_algorithm)
        if authority is None:
            return Response(ocsp_error(ocsp.OCSPResponseStatus.UNAUTHORIZED), media_type="application/ocsp-response")
        issued = await service.issued_certificate(authority.name, ocsp_request.serial_number)
        if issued is None:
            status, revoked_at, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        elif issued.revoked_at is not None:
            status, revoked_at, reason = ocsp.OCSPCertStatus.REVOKED, issued.revoked_at, issued.revocation_reason
        else:
            status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
        answer = ocsp_answer(authority, ocsp_request, status, revoked_at=revoked_at, reason=reason,
                             now=service.clock())
        return Response(answer, media_type="application/ocsp-response")

    async def crl(request: Request) -> Response:
        service = identity.service
        issuer = request.path_params["issuer"]
        if service.ca is None or AUTHORITIES.get(issuer, (None,))[0] is None:
            raise PortalError(ErrorCode.NOT_FOUND, "No such CRL.")
        der = service.ca.crl(issuer, await service.revoked_certificates(issuer), now=service.clock())
        return Response(der, media_type="application/pkix-crl")

    async def roots(request: Request) -> Response:
        pem = b"".join(anchor.public_bytes(serialization.Encoding.PEM)
                       for anchor in identity.service.chains.anchors)
        return Response(pem, media_type="application/x-pem-file")

    async def device_authorization(request: Request) -> Response:
        form = await _form(request)
        if isinstance(form, Response):
            return form
        if _invalid_form(form):
            return oauth_error("invalid_request", "A field is not valid text.")
        client_id = form.get("client_id", "")
        if not 1 <= len(client_id) <= 100:
            return oauth_error("invalid_request", "client_id is required.")
        try:
            started = await identity.service.start_device(client_id, form.get("scope"), DeviceRequester(
                request.client.host if request.client else None, request.headers.get("user-agent")))
        except DeviceTokenError as error:
            return oauth_error(error.error, str(error))
        verification_uri = f"{settings.public_url}/device"
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

    async def token(request: Request) -> Response:
        form = await _form(request)
        if isinstance(form, Response):
            return form
        if _invalid_form(form):
            return oauth_error("invalid_request", "A field is not valid text.")
        grant_type = form.get("grant_type")
        try:
            if grant_type == DEVICE_GRANT_TYPE:
                pair = await identity.service.poll_device(form.get("device_code", ""), form.get("client_id", ""))
            elif grant_type == "refresh_token":
                pair = await identity.service.refresh(form.get("refresh_token", ""))
            else:
                return oauth_error("unsupported_grant_type", "Use the device_code or refresh_token grant.")
        except DeviceTokenError as error:
            return oauth_error(error.error, str(error))
        except PortalError as refused:  # the OAuth protocol has its own error format
            return oauth_error("invalid_grant", refused.message)
        return JSONResponse({"access_token": pair.access_token, "token_type": "Bearer",
                             "expires_in": pair.expires_in, "refresh_token": pair.refresh_token,
                             "scope": " ".join(sorted(pair.scopes))}, headers={"cache-control": "no-store"})

    return [
        Route("/pki/ocsp", answering_problems(ocsp_responder), methods=["POST"]),
        Route("/pki/ocsp/{encoded:path}", answering_problems(ocsp_responder), methods=["GET"]),
        Route("/pki/crl/{issuer}.crl", answering_problems(crl), methods=["GET"]),
        Route("/pki/roots.pem", roots, methods=["GET"]),
        Route("/oauth/device_authorization", device_authorization, methods=["POST"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/device", _device_page, methods=["GET"]),
    ]
