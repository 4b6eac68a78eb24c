"""Every REST route of the app is described in one of these OpenAPI 3.1 documents, served at
/openapi/<name>.json (tests/api/test_openapi.py fails when a route is missing or a path is made up, and
tests/fuzz/ runs schemathesis over them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from api.applications import openapi as applications_openapi
from api.certificates import openapi as certificates_openapi
from api.exchange import openapi as exchange_openapi
from api.identity import openapi as identity_openapi
from api.oidc import openapi as oidc_openapi
from api.platform.errors import ErrorCode, PortalError, problem_response
from api.platform.openapi import document, json_answer, path_param, problem, query_param
from api.records import openapi as records_openapi
from api.selfinfo import openapi as selfinfo_openapi
from api.web import openapi as web_openapi
from corporate import openapi as corporate_openapi
from payments import openapi as payments_openapi

_GRAPHQL_ANSWER = {"description": "A GraphQL response: `data` and/or `errors`, each error with `extensions.code`.",
                   "content": {media: {"schema": {"type": "object"}} for media in (
                       "application/json", "application/graphql-response+json")}}
_GRAPHQL_ERRORS = {str(status): {**_GRAPHQL_ANSWER, "description": description} for status, description in (
    (400, "The request is not a GraphQL request (no query, bad JSON, bad variables)."),
    (401, "The bearer token is not valid."), (404, "An unknown persisted query."),
    (405, "A mutation sent by GET."), (413, "The body or document is too large."),
    (415, "Not a JSON body."), (429, "Rate-limited; see Retry-After."))}


def portal_document() -> dict[str, Any]:
    graphql_body = {"type": "object", "properties": {
        "query": {"type": "string"}, "operationName": {"type": ["string", "null"]},
        "variables": {"type": ["object", "null"]}, "extensions": {"type": ["object", "null"]}}}
    paths = {
        "/graphql": {
            "post": {"summary": "GraphQL (the phone and TV apps); in production persisted operations only",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": graphql_body}}},
                     "responses": {"200": _GRAPHQL_ANSWER, **_GRAPHQL_ERRORS}},
            "get": {"summary": "GraphQL queries by GET (a persisted operation's hash, or a document)",
                    "parameters": [query_param("query", {"type": "string"}, "The document."),
                                   query_param("operationName", {"type": "string"}, "The operation."),
                                   query_param("variables", {"type": "string"}, "JSON object."),
                                   query_param("extensions", {"type": "string"}, "JSON object (persistedQuery).")],
                    "responses": {"200": {**_GRAPHQL_ANSWER, "content": {
                        **_GRAPHQL_ANSWER["content"], "text/html": {"schema": {"type": "string"}}}},
                        **_GRAPHQL_ERRORS}}},
        "/healthz": {"get": {"summary": "The process answers", "responses": {"200": json_answer("ok")}}},
        "/readyz": {"get": {"summary": "The database answers and is migrated to this build's head",
                            "responses": {"200": json_answer("ready"),
                                          "503": json_answer("not ready (unreachable or not migrated)")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics: request latency per route and GraphQL operation, queue "
                                        "depths, push outcomes, payment states (restrict it to the scrapers at "
                                        "the proxy)",
                             "responses": {"200": {"description": "Prometheus text exposition format 0.0.4.",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi/{name}.json": {"get": {
            "summary": "One of these OpenAPI documents",
            "parameters": [path_param("name", {"type": "string"}, ", ".join(DOCUMENTS))],
            "responses": {"200": json_answer("The document."), "404": problem("No such document (NOT_FOUND).")}}},
        "/corporate/openapi.json": {"get": {"summary": "The corporate-number API's document (also "
                                                       "/openapi/corporate.json)",
                                            "responses": {"200": json_answer("The document.")}}},
        "/corporate/docs": {"get": {"summary": "Swagger UI for the corporate-number API", "responses": {
            "200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    }
    return document("Mynaportal: GraphQL endpoint, health and documents",
                    "The GraphQL endpoint (its schema: graphql/schema.graphql), health checks and the OpenAPI "
                    "documents of the REST surfaces.", paths)


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "portal": portal_document,
    "payments": payments_openapi.openapi_document,
    "identity": identity_openapi.openapi_document,
    "corporate": corporate_openapi.openapi_document,
    "records": records_openapi.openapi_document,
    "exchange": exchange_openapi.openapi_document,
    "selfinfo": selfinfo_openapi.openapi_document,
    "applications": applications_openapi.openapi_document,
    "oidc": oidc_openapi.openapi_document,
    "web": web_openapi.openapi_document,
    "certificates": certificates_openapi.public_document,
    "kiosk": certificates_openapi.kiosk_document,
}


def routes() -> list[BaseRoute]:
    async def serve(request: Request) -> Response:
        build = DOCUMENTS.get(request.path_params["name"])
        if build is None:
            return problem_response(PortalError(ErrorCode.NOT_FOUND, "No such OpenAPI document."))
        return JSONResponse(build())

    return [Route("/openapi/{name}.json", serve, methods=["GET"])]


_METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})
_CONVERTER = re.compile(r"\{(\w+):\w+\}")  # Starlette's {name:path} is OpenAPI's {name}


def documented_operations() -> dict[tuple[str, str], str]:
    """(METHOD, path) -> the name of the document describing it."""
    found: dict[tuple[str, str], str] = {}
    for name, build in DOCUMENTS.items():
        for path, item in build()["paths"].items():
            for method in item.keys() & _METHODS:
                found[(method.upper(), path)] = name
    return found


def route_operations(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(METHOD, path) of every HTTP route, walking mounts; HEAD (Starlette adds it to GET) and WebSockets left out."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= route_operations(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            path = _CONVERTER.sub(r"{\1}", prefix + route.path)
            found |= {(method, path) for method in route.methods or {"GET"} if method != "HEAD"}
    return found
