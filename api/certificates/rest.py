"""Public certificate routes: the QR code's verification page, the RFC 3161 time-stamping service, the
certificates to trust (the municipal root, the TSA), and the one-time fetch link a delivery service takes an
offered document by (its own fetch key; api.certificates.delivery). Documented in api/certificates/openapi.py.

The first three take no authentication: whoever holds the paper may check it. The page shows what the paper
shows about its issue (which certificate, by whom, when, its serial, whether it was revoked) and nothing of the
person.
"""

from __future__ import annotations

import html

from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.certificates import delivery, service
from api.certificates.issuing import LazyIssuer
from api.certificates.signing import TimeStampRefused
from api.platform.db import create_session_factory
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.settings import Settings

TSA_QUERY = "application/timestamp-query"
TSA_REPLY = "application/timestamp-reply"
MAX_TSA_QUERY = 4096


def verification_json(found: service.Verification) -> dict[str, object]:
    return {"certificate": found.title, "issuer": found.issuer, "serial": found.serial,
            "issued_at": found.issued_at.isoformat(), "pages": found.pages,
            "status": "valid" if found.valid else "revoked", "revocation_reason": found.void_reason,
            "document_sha256": found.document_sha256}


def _page(found: service.Verification) -> str:
    status = "有効（取り消されていません）" if found.valid else f"取り消し済み（{found.void_reason or ''}）"
    rows = [("証明書", found.title), ("発行者", found.issuer), ("証明書番号", found.serial),
            ("発行日時 (UTC)", found.issued_at.strftime("%Y-%m-%d %H:%M")), ("状態", status),
            ("文書の SHA-256", found.document_sha256 or "—")]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return (f"<!doctype html><html lang=ja><meta charset=utf-8><title>証明書の確認</title>"
            f"<h1>証明書の確認</h1><table>{cells}</table></html>")


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession],
           issuer: LazyIssuer) -> list[BaseRoute]:
    read_factory = create_session_factory(session_factory.kw["bind"], read_only=True)

    @answering_problems
    async def verify(request: Request) -> Response:
        found = await service.verify(read_factory, request.path_params["public_id"])
        if found is None:
            raise PortalError(ErrorCode.NOT_FOUND, "No certificate was issued with this id.")
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_page(found), headers={"cache-control": "no-store"})
        return JSONResponse(verification_json(found), headers={"cache-control": "no-store"})

    @answering_problems
    async def timestamp(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != TSA_QUERY:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"Send a DER TimeStampReq as {TSA_QUERY}.",
                              extensions={"header": "content-type"})
        body = await request.body()
        if len(body) > MAX_TSA_QUERY:
            raise PortalError(ErrorCode.PAYLOAD_TOO_LARGE, "A time-stamp query is a few hundred bytes.")
        signer = issuer.get().signer
        if signer is None:
            raise PortalError(ErrorCode.ISSUING_UNAVAILABLE, "The time-stamping service is not configured here.")
        try:
            reply = await signer.tsa.respond_der(body)
        except TimeStampRefused as refused:
            raise PortalError(ErrorCode.BAD_USER_INPUT, str(refused)) from refused
        return Response(reply, media_type=TSA_REPLY)

    @answering_problems
    async def trust(request: Request) -> Response:
        signer = issuer.get().signer
        if signer is None:
            raise PortalError(ErrorCode.ISSUING_UNAVAILABLE, "Certificates are not issued here.")
        which = request.path_params["name"]
        cert = {"root": signer.pki.root, "tsa": signer.pki.tsa.cert}.get(which)
        if cert is None:
            raise PortalError(ErrorCode.NOT_FOUND, "The certificates published here are root and tsa.")
        return Response(cert.public_bytes(serialization.Encoding.PEM), media_type="application/x-pem-file")

    @answering_problems
    async def take_document(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise PortalError(ErrorCode.UNAUTHENTICATED, "Send the delivery service's fetch key as a bearer token.")
        taken = await delivery.take(session_factory, key.strip(), request.path_params["token"])
        return Response(taken.pdf, media_type="application/pdf", headers={
            "cache-control": "no-store", "content-disposition": f'attachment; filename="{taken.filename}"',
            "x-content-sha256": taken.sha256})

    return [Route("/certificates/v1/verify/{public_id}", verify, methods=["GET"]),
            Route("/delivery/v1/documents/{token}", take_document, methods=["POST"]),
            Route("/certificates/v1/tsa", timestamp, methods=["POST"]),
            Route("/certificates/v1/trust/{name}.pem", trust, methods=["GET"])]
