"""Pieces shared by the portal's OpenAPI 3.1 documents (one per REST surface; the app serves them at
/openapi/<name>.json and a test fails when a route is missing from them)."""

from __future__ import annotations

from typing import Any

from api.platform.errors import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail", "code"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "code": {"type": "string"}, "field": {"type": "string"},
                   "header": {"type": "string"}, "retryAfter": {"type": "integer"}},
}
UUID = {"type": "string", "format": "uuid"}
DATE = {"type": "string", "format": "date"}


def problem(description: str) -> dict[str, Any]:
    """An RFC 9457 problem answer (api.platform.errors.problem_response)."""
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}


def json_answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def query_param(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def header_param(name: str, description: str, *, required: bool = False,
                 schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema or {"type": "string"},
            "description": description}


def document(title: str, description: str, paths: dict[str, Any], *,
             security_schemes: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": title, "version": "1", "description": description},
                           "paths": paths}
    if security_schemes:
        doc["components"] = {"securitySchemes": security_schemes}
    return doc
