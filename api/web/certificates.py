"""証明書: ask for a 住民票の写し (or another certificate), pay its fee through the gateway (the payments pages'
own form), collect it and download the signed PDF. Each handler calls the domain function the GraphQL resolver
calls (api/schema/certificates.py: api.certificates.service)."""

from __future__ import annotations

import secrets
from datetime import date

from starlette.responses import RedirectResponse, Response

from api.certificates import content, service
from api.certificates.issuing import CertificateIssuer
from api.certificates.models import CertificateKind, Channel
from api.platform.errors import ErrorCode, PortalError
from api.web.pages import path_uuid
from api.web.rendering import Visit, Web, render

KIND_LABELS = {CertificateKind.RESIDENT_RECORD: "住民票の写し",
               CertificateKind.RESIDENT_RECORD_ITEMS: "住民票記載事項証明書",
               CertificateKind.SEAL: "印鑑登録証明書", CertificateKind.FAMILY_REGISTER_ALL: "戸籍全部事項証明書",
               CertificateKind.FAMILY_REGISTER_PERSON: "戸籍個人事項証明書", CertificateKind.TAX: "課税（所得）証明書"}
STATE_LABELS = {"awaiting-payment": "手数料のお支払い待ち", "issued": "発行済み", "handed": "コンビニで受け取り中",
                "printed": "コンビニで交付済み", "void": "無効"}


def issuer(web: Web) -> CertificateIssuer:
    """The process's issuer (the app's: one per process, built on first use)."""
    assert web.certificate_issuer is not None
    return web.certificate_issuer.get()


async def certificates(web: Web, visit: Visit) -> Response:
    rows = await service.requests_of(web.session_factory, visit.person_id)
    return render(web, visit, "certificates.html", rows=rows, kinds=KIND_LABELS, states=STATE_LABELS,
                  key=secrets.token_hex(16), pay_keys={row.id: secrets.token_hex(16) for row in rows})


async def request(web: Web, visit: Visit) -> Response:
    async with visit.request.form() as fields:
        kind_raw, key = str(fields.get("kind", "")), str(fields.get("idempotency_key", ""))[:64]
        household, honseki = fields.get("household") == "on", fields.get("honseki") == "on"
        relationship = fields.get("relationship") == "on"
    try:
        kind = CertificateKind(kind_raw)
    except ValueError as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "証明書の種類を選んでください。") from error
    options = content.Options(household=household, honseki=honseki, relationship=relationship)
    await service.request_certificate(web.session_factory, issuer(web), visit.person_id,
                                      service.CertificateRequest(visit.person_id, kind, options, Channel.APP, key),
                                      today=date.today())
    return RedirectResponse("/web/certificates?requested=1", status_code=303)


async def collect(web: Web, visit: Visit) -> Response:
    if web.cipher is None:
        raise PortalError(ErrorCode.NOT_FOUND, "この画面は使えません。")
    row = await service.collect(web.session_factory, issuer(web), visit.person_id, path_uuid(visit, "issuance_id"),
                                cipher=web.cipher, today=date.today())
    return RedirectResponse(f"/web/certificates?collected={row.serial}", status_code=303)


async def document(web: Web, visit: Visit) -> Response:
    if web.cipher is None:
        raise PortalError(ErrorCode.NOT_FOUND, "この画面は使えません。")
    row, pdf = await service.document_for(web.session_factory, issuer(web), visit.person_id,
                                          path_uuid(visit, "issuance_id"), cipher=web.cipher)
    return Response(pdf, media_type="application/pdf", headers={
        "content-disposition": f'attachment; filename="{row.kind.value}-{row.serial}.pdf"'})
