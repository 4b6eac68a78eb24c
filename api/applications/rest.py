"""The municipality's inbox over REST (as マイナポータル's 電子申請等情報受取等API), under /applications, and the
public catalogue. RFC 9457 problems on every error.

The municipality's system authenticates with its agency key (scopes applications:inbox, applications:decide),
a staff member with their own token (role reader or decider). The system alone chooses what the municipality
takes online (applications:publish: national procedures and its own). Moves need an ``Idempotency-Key``. Handlers
validate, call one domain function, shape the answer.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from api.agencies.client_certificates import check_client_certificate
from api.agencies.credentials import APPLICATIONS_PUBLISH, AgencyPrincipal
from api.agencies.requests import agency_of_request
from api.applications import inbox, offerings
from api.applications.attachments import stream_content
from api.applications.catalogue import Procedure, Query
from api.applications.discover import find
from api.applications.models import ProcedureOffering
from api.applications.openapi import openapi_document
from api.applications.staff import InboxActor, inbox_actor
from api.platform.client_tls import peer_certificate
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.pagination import PageRequest
from api.platform.settings import Settings
from api.platform.text import check_params, json_object


def _b64(value: bytes | None) -> str | None:
    return base64.b64encode(value).decode() if value is not None else None


def procedure_json(proc: Procedure, *, form: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "code": proc.code, "formVersion": proc.form_version, "name": proc.name, "kana": proc.kana,
        "category": proc.category, "lifeEvents": list(proc.life_events), "whoApplies": proc.who_applies,
        "appliesFor": proc.applies_for, "signatureRequired": proc.signature_required, "feeYen": proc.fee_yen,
        "deadline": proc.deadline, "ownedBy": proc.municipality,
        "attachments": [{"code": a.code, "name": a.name, "condition": a.condition, "mediaTypes": list(a.media_types),
                         "maxBytes": a.max_bytes} for a in proc.attachments],
        "obtainedThroughNetwork": [{"item": n.item, "replaces": n.replaces} for n in proc.network_items],
    }
    if form:
        answer["form"] = proc.form
    return answer


def offering_json(row: ProcedureOffering) -> dict[str, Any]:
    return {"procedure": row.procedure_code, "formVersion": row.form_version,
            "signatureRequired": row.signature_required, "feeYen": row.fee_yen, "note": row.note,
            "publishedAt": row.published_at.isoformat(),
            "withdrawnAt": row.withdrawn_at.isoformat() if row.withdrawn_at else None}


def _summary(row: inbox.InboxRow) -> dict[str, Any]:
    a = row.application
    return {"receptionNumber": a.reception_number, "procedure": a.procedure_code, "formVersion": a.form_version,
            "status": a.status, "applicantCode": row.applicant_code, "subjectCode": row.subject_code,
            "basis": a.basis, "submittedAt": a.submitted_at.isoformat() if a.submitted_at else None,
            "updatedAt": a.updated_at.isoformat(), "decidedAt": a.decided_at.isoformat() if a.decided_at else None}


def application_json(found: inbox.InboxApplication) -> dict[str, Any]:
    a = found.row.application
    number = a.reception_number
    return {
        **_summary(found.row),
        "form": a.form,
        "prefill": {name: {k: v for k, v in source.items() if k != "value"} for name, source in a.prefill.items()},
        "attachments": [{"id": str(x.id), "requirement": x.requirement, "filename": x.filename,
                         "mediaType": x.media_type, "size": x.size, "sha256": x.sha256.hex(),
                         "href": f"/applications/inbox/{number}/attachments/{x.id}"} for x in found.attachments],
        "signature": {"document": _b64(a.signed_document), "sha256": a.signed_digest.hex() if a.signed_digest else None,
                      "signature": _b64(a.signature), "certificate": _b64(a.certificate),
                      "chain": a.certificate_chain or []},
        "history": [{"at": e.at.isoformat(), "from": e.from_status, "to": e.to_status, "actor": e.actor,
                     "note": e.note} for e in found.events],
    }


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    certificates_required = settings.agency_client_certificates == "required"

    async def actor(request: Request) -> InboxActor:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise PortalError(ErrorCode.UNAUTHENTICATED, "Send the agency key or a staff token as a bearer token.")
        who = await inbox_actor(session_factory, token.strip())
        # The system and its staff alike come over the agency's closed line, with the agency's certificate.
        await check_client_certificate(session_factory, who.agency_id, peer_certificate(request.scope),
                                       required=certificates_required)
        return who

    async def listing(request: Request) -> Response:
        who = await actor(request)
        params = request.query_params
        check_params(params)
        try:
            first = int(params["first"]) if "first" in params else None
        except ValueError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "first must be an integer.",
                              extensions={"field": "first"}) from error
        page = await inbox.list_inbox(session_factory, who, PageRequest.parse(first, params.get("after")),
                                      params.get("status"))
        return JSONResponse({"applications": [{"cursor": cursor, **_summary(row)} for cursor, row in page.items],
                             "hasNextPage": page.has_next_page,
                             "endCursor": page.items[-1][0] if page.items else None})

    async def one(request: Request) -> Response:
        who = await actor(request)
        return JSONResponse(application_json(await inbox.fetch(session_factory, who,
                                                               request.path_params["number"])))

    async def attachment(request: Request) -> Response:
        who = await actor(request)
        try:
            attachment_id = uuid.UUID(request.path_params["attachment"])
        except ValueError as error:
            raise PortalError(ErrorCode.NOT_FOUND, "No such attachment.") from error
        found = await inbox.attachment_for(session_factory, who, request.path_params["number"], attachment_id)
        return StreamingResponse(stream_content(session_factory, found.id), media_type=found.media_type,
                                 headers={"content-length": str(found.size), "x-content-sha256": found.sha256.hex(),
                                          "content-disposition": "attachment"})

    async def moves(request: Request) -> Response:
        who = await actor(request)
        key = request.headers.get("idempotency-key")
        if not key:
            raise PortalError(ErrorCode.IDEMPOTENCY_KEY_INVALID, "This request needs an Idempotency-Key header.",
                              extensions={"header": "Idempotency-Key"})
        body = json_object(await request.body())
        status, note = body.get("status"), body.get("note")
        if not isinstance(status, str) or (note is not None and not isinstance(note, str)):
            raise PortalError(ErrorCode.BAD_USER_INPUT, "status is a text, note a text or null.",
                              extensions={"field": "status"})
        return JSONResponse(await inbox.move(session_factory, who, request.path_params["number"], status, note,
                                             idempotency_key=key))

    async def catalogue_route(request: Request) -> Response:
        params = request.query_params
        check_params(params)
        hits = await find(session_factory, Query(params.get("keyword"), params.get("category"),
                                                 params.get("lifeEvent")), params.get("municipality"))
        return JSONResponse({"procedures": [{**procedure_json(p), "municipalities": where} for p, where in hits]})

    async def publisher(request: Request) -> AgencyPrincipal:
        """The municipality's system itself (its agency key with applications:publish), not a staff member."""
        return await agency_of_request(request, session_factory, APPLICATIONS_PUBLISH,
                                       certificates_required=certificates_required)

    async def offerings_route(request: Request) -> Response:
        principal = await publisher(request)
        check_params(request.query_params)
        rows = await offerings.offerings_for(session_factory, principal.agency_id)
        return JSONResponse({"offerings": [offering_json(row) for row in rows]})

    async def offering_route(request: Request) -> Response:
        principal = await publisher(request)
        code = request.path_params["procedure"]
        if request.method == "DELETE":
            return JSONResponse(offering_json(await offerings.withdraw_for(session_factory, principal.agency_id, code)))
        body = json_object(await request.body())
        signature, fee, note = body.get("signatureRequired"), body.get("feeYen"), body.get("note")
        for name, value, kind in (("signatureRequired", signature, bool), ("feeYen", fee, int), ("note", note, str)):
            if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
                raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} is a {kind.__name__} or absent.",
                                  extensions={"field": name})
        row = await offerings.publish_for(session_factory, principal.agency_id, code, signature_required=signature,
                                          fee_yen=fee, note=note)
        return JSONResponse(offering_json(row))

    async def openapi(_: Request) -> Response:
        return JSONResponse(openapi_document())

    return [
        Route("/applications/catalogue", answering_problems(catalogue_route), methods=["GET"]),
        Route("/applications/offerings", answering_problems(offerings_route), methods=["GET"]),
        Route("/applications/offerings/{procedure}", answering_problems(offering_route), methods=["PUT", "DELETE"]),
        Route("/applications/inbox", answering_problems(listing), methods=["GET"]),
        Route("/applications/inbox/{number}", answering_problems(one), methods=["GET"]),
        Route("/applications/inbox/{number}/attachments/{attachment}", answering_problems(attachment),
              methods=["GET"]),
        Route("/applications/inbox/{number}/moves", answering_problems(moves), methods=["POST"]),
        Route("/applications/openapi.json", openapi, methods=["GET"]),
    ]
