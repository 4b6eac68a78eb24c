"""The agencies' REST API of the exchange network (under /exchange), RFC 9457 problems on every error.

Agencies authenticate with their API key (``Authorization: Bearer mpa_…``) and the exchange scopes. Asking for
data is a read that leaves a record each time (no Idempotency-Key: each call is an exchange of its own);
registering copies needs an ``Idempotency-Key``. Handlers validate, call one exchange function, shape the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.agencies.credentials import (
    EXCHANGE_PROVIDE,
    EXCHANGE_RECORDS,
    EXCHANGE_REQUEST,
    AgencyPrincipal,
)
from api.agencies.requests import agency_of_request
from api.exchange import copies, record
from api.exchange.hub import ExchangeRequest, Hub
from api.exchange.openapi import openapi_document
from api.exchange.views import answer_json, registration_json, table_json
from api.platform.db import read_only_factory
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.pagination import PageRequest
from api.platform.settings import Settings
from api.platform.text import check_params, json_object


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} is required and must be a text.",
                          extensions={"field": name})
    return value


def exchange_request(body: dict[str, Any]) -> ExchangeRequest:
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "items must be a list of item kinds.",
                          extensions={"field": "items"})
    raw_until = _text(body, "hiddenUntil", required=False)
    try:
        until = datetime.fromisoformat(raw_until) if raw_until is not None else None
    except ValueError as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "hiddenUntil must be an ISO 8601 time with its offset.",
                          extensions={"field": "hiddenUntil"}) from error
    return ExchangeRequest(person_code=_text(body, "personCode") or "", duty=_text(body, "duty") or "",
                           provider=_text(body, "provider") or "", items=tuple(items), hidden_until=until,
                           hidden_reason=_text(body, "hiddenReason", required=False))


def copy_entries(body: dict[str, Any]) -> list[copies.CopyEntry]:
    entries = body.get("copies")
    if not isinstance(entries, list):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "copies must be a list.", extensions={"field": "copies"})
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("personCode"), str) \
                or not isinstance(entry.get("itemKind"), str) or "value" not in entry:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"copies[{index}] needs personCode, itemKind and value.",
                              extensions={"field": f"copies[{index}]"})
        result.append(copies.CopyEntry(entry["personCode"], entry["itemKind"], entry["value"], entry.get("key")))
    return result


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    hub = Hub(session_factory)
    read_factory = read_only_factory(session_factory)
    certificates_required = settings.agency_client_certificates == "required"

    async def agency(request: Request, scope: str) -> AgencyPrincipal:
        return await agency_of_request(request, session_factory, scope,
                                       certificates_required=certificates_required)

    async def ask(request: Request) -> Response:
        principal = await agency(request, EXCHANGE_REQUEST)
        answer = await hub.request(principal.agency_id, exchange_request(json_object(await request.body())))
        return JSONResponse(answer_json(answer))

    async def register(request: Request) -> Response:
        principal = await agency(request, EXCHANGE_PROVIDE)
        key = request.headers.get("idempotency-key")
        if not key:
            raise PortalError(ErrorCode.IDEMPOTENCY_KEY_INVALID, "This request needs an Idempotency-Key header.",
                              extensions={"header": "Idempotency-Key"})
        result = await copies.register_copies(session_factory, principal.agency_id,
                                              copy_entries(json_object(await request.body())), idempotency_key=key)
        return JSONResponse(registration_json(result), status_code=200 if result.replayed else 201)

    async def endpoint(request: Request) -> Response:
        principal = await agency(request, EXCHANGE_PROVIDE)
        body = json_object(await request.body())
        kind = request.path_params["item_kind"]
        await copies.register_endpoint(session_factory, principal.agency_id, kind, _text(body, "url") or "")
        return JSONResponse({"itemKind": kind, "url": body["url"]})

    async def records(request: Request) -> Response:
        principal = await agency(request, EXCHANGE_RECORDS)
        params = request.query_params
        check_params(params)
        try:
            first = int(params["first"]) if "first" in params else None
        except ValueError as error:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "first must be an integer.",
                              extensions={"field": "first"}) from error
        page, slugs = await record.requester_records(read_factory, principal.agency_id,
                                                     PageRequest.parse(first, params.get("after")))
        return JSONResponse({
            "records": [{"cursor": cursor, **record.record_json(row, slugs)} for cursor, row in page.items],
            "hasNextPage": page.has_next_page,
            "endCursor": page.items[-1][0] if page.items else None,
        })

    async def table(_: Request) -> Response:
        return JSONResponse(table_json())

    async def openapi(_: Request) -> Response:
        return JSONResponse(openapi_document())

    return [
        Route("/exchange/requests", answering_problems(ask), methods=["POST"]),
        Route("/exchange/copies", answering_problems(register), methods=["POST"]),
        Route("/exchange/endpoints/{item_kind}", answering_problems(endpoint), methods=["PUT"]),
        Route("/exchange/records", answering_problems(records), methods=["GET"]),
        Route("/exchange/legal-table", answering_problems(table), methods=["GET"]),
        Route("/exchange/openapi.json", openapi, methods=["GET"]),
    ]
