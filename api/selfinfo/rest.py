"""The providing agencies' REST API for correction requests (訂正請求): read the queue, answer one.

Agencies authenticate with their API key (``Authorization: Bearer mpa_…``, scope corrections:answer) and see
people only by their own codes. Errors are RFC 9457 problems with a stable ``code``. Documented in
api/selfinfo/openapi.py.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.agencies.credentials import CORRECTIONS_ANSWER, AgencyPrincipal
from api.agencies.requests import agency_of_request
from api.platform.db import create_session_factory
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.pagination import PageRequest
from api.platform.settings import Settings
from api.platform.text import check_params, json_object
from api.selfinfo import corrections
from api.selfinfo.corrections import QueuedCorrection
from api.selfinfo.models import CorrectionStatus


def correction_json(queued: QueuedCorrection) -> dict[str, Any]:
    request = queued.request
    return {"id": str(request.id), "person_code": queued.person_code, "item": request.item_name,
            "message": request.message, "status": request.status.value, "answer": request.answer,
            "created_at": request.created_at.isoformat(),
            "answered_at": request.answered_at.isoformat() if request.answered_at else None}


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    read_factory = create_session_factory(session_factory.kw["bind"], read_only=True)
    certificates_required = settings.agency_client_certificates == "required"

    async def agency(request: Request) -> AgencyPrincipal:
        return await agency_of_request(request, session_factory, CORRECTIONS_ANSWER,
                                       certificates_required=certificates_required)

    @answering_problems
    async def queue(request: Request) -> Response:
        check_params(request.query_params)
        principal = await agency(request)
        raw_status = request.query_params.get("status", CorrectionStatus.OPEN.value)
        try:
            status = CorrectionStatus(raw_status)
        except ValueError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "status is open, corrected or rejected.",
                              extensions={"field": "status"}) from error
        raw_first = request.query_params.get("first")
        if raw_first is not None and not (raw_first.isascii() and raw_first.isdigit() and len(raw_first) <= 4):
            raise PortalError(ErrorCode.BAD_USER_INPUT, "first must be a number from 1 to 100.",
                              extensions={"field": "first"})
        page = await corrections.agency_queue(read_factory, principal.agency_id, status, PageRequest.parse(
            int(raw_first) if raw_first else None, request.query_params.get("after")))
        return JSONResponse({"items": [correction_json(item) for _, item in page.items],
                             "next_cursor": page.items[-1][0] if page.has_next_page else None})

    @answering_problems
    async def answer(request: Request) -> Response:
        principal = await agency(request)
        try:
            request_id = uuid.UUID(request.path_params["correction_id"])
        except ValueError as error:
            raise PortalError(ErrorCode.NOT_FOUND, "No such correction request.") from error
        body = json_object(await request.body())
        outcome, message = body.get("outcome"), body.get("message")
        if outcome not in (CorrectionStatus.CORRECTED.value, CorrectionStatus.REJECTED.value):
            raise PortalError(ErrorCode.BAD_USER_INPUT, "outcome is corrected or rejected.",
                              extensions={"field": "outcome"})
        if not isinstance(message, str):
            raise PortalError(ErrorCode.BAD_USER_INPUT, "message is required.", extensions={"field": "message"})
        answered = await corrections.answer(session_factory, principal.agency_id, request_id,
                                            CorrectionStatus(outcome), message, today=date.today())
        return JSONResponse(correction_json(answered))

    return [Route("/selfinfo/v1/corrections", queue, methods=["GET"]),
            Route("/selfinfo/v1/corrections/{correction_id}/answer", answer, methods=["POST"])]
