"""The OpenAPI 3.1 document of the agencies' exchange API (served at /exchange/openapi.json)."""

from __future__ import annotations

from typing import Any

from api.platform.errors import PROBLEM_MEDIA_TYPE

_PROBLEM = {
    "type": "object", "required": ["type", "title", "status", "detail", "code"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "code": {"type": "string"}, "field": {"type": "string"},
                   "header": {"type": "string"}, "queryId": {"type": "string", "format": "uuid"}},
}
_SECURITY = [{"agencyKey": []}]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_AUTH_ERRORS = {"401": _problem("UNAUTHENTICATED: no or an invalid agency key; CLIENT_CERTIFICATE_REQUIRED: "
                                "no TLS client certificate where mutual TLS is required (production)."),
                "403": _problem("FORBIDDEN: the key lacks the scope; EXCHANGE_NOT_PERMITTED: outside the table; "
                                "CLIENT_CERTIFICATE_MISMATCH: the TLS client certificate is not a live, "
                                "registered certificate of the key's agency.")}
_REQUEST = {
    "type": "object", "required": ["personCode", "duty", "provider", "items"],
    "properties": {
        "personCode": {"type": "string", "description": "Your agency's own code for the person.", "maxLength": 64},
        "duty": {"type": "string", "description": "A duty code of the legal table (GET /exchange/legal-table)."},
        "provider": {"type": "string", "description": "The provider agency's slug."},
        "items": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 20},
        "hiddenUntil": {"type": "string", "format": "date-time",
                        "description": "Withhold this entry from the person until then (at most 7 years)."},
        "hiddenReason": {"type": "string", "maxLength": 500},
    },
}
_ITEM = {"type": "object", "properties": {"kind": {"type": "string"}, "name": {"type": "string"},
                                          "key": {"type": "string"}, "value": {"type": "object"}}}
_ANSWER = {"type": "object", "properties": {
    "queryId": {"type": "string", "format": "uuid"}, "duty": {"type": "string"}, "provider": {"type": "string"},
    "requestedAt": {"type": "string", "format": "date-time"}, "providedAt": {"type": "string", "format": "date-time"},
    "processingType": {"type": "string", "enum": ["copy", "live", "mixed"]}, "legalRow": {"type": "object"},
    "items": {"type": "array", "items": _ITEM}, "notHeld": {"type": "array", "items": {"type": "string"}}}}
_COPIES = {"type": "object", "required": ["copies"], "properties": {"copies": {
    "type": "array", "minItems": 1, "maxItems": 1000, "items": {
        "type": "object", "required": ["personCode", "itemKind", "value"],
        "properties": {"personCode": {"type": "string"}, "itemKind": {"type": "string"},
                       "key": {"type": "string"}, "value": {"type": "object"}}}}}}
_REGISTERED = {"type": "object", "properties": {
    "batchId": {"type": "string", "format": "uuid"}, "created": {"type": "integer"},
    "updated": {"type": "integer"}, "unchanged": {"type": "integer"}, "replayed": {"type": "boolean"}}}


def openapi_document() -> dict[str, Any]:
    idempotency = {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"},
                   "description": "1-255 of A-Z a-z 0-9 '-'; a replay answers 200 with replayed=true."}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Information-exchange network (情報提供ネットワークシステム)", "version": "1",
                 "description": "Agencies ask each other for a person's data only as 番号法 別表第二 allows, "
                                "by their own codes; every exchange, refused ones too, is recorded."},
        "components": {"securitySchemes": {"agencyKey": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/exchange/requests": {"post": {
                "summary": "Ask a provider for data items for a duty (scope exchange:request).",
                "security": _SECURITY, "requestBody": _body(_REQUEST),
                "responses": {"200": _json("The items, from the provider's copies or its live system.", _ANSWER),
                              "400": _problem("BAD_USER_INPUT, TEXT_INVALID."), **_AUTH_ERRORS,
                              "404": _problem("EXCHANGE_PERSON_UNKNOWN, EXCHANGE_PROVIDER_UNKNOWN (recorded)."),
                              "503": _problem("EXCHANGE_PROVIDER_UNAVAILABLE (recorded).")}}},
            "/exchange/copies": {"post": {
                "summary": "Register copies (副本) under your own codes, in bulk (scope exchange:provide).",
                "security": _SECURITY, "parameters": [idempotency], "requestBody": _body(_COPIES),
                "responses": {"201": _json("Registered.", _REGISTERED), "200": _json("A replay.", _REGISTERED),
                              "400": _problem("BAD_USER_INPUT, IDEMPOTENCY_KEY_INVALID."), **_AUTH_ERRORS,
                              "404": _problem("EXCHANGE_PERSON_UNKNOWN: a code is not yours; nothing registered."),
                              "409": _problem("IDEMPOTENCY_KEY_REUSED.")}}},
            "/exchange/endpoints/{item_kind}": {"put": {
                "summary": "Answer an item kind live from your system (scope exchange:provide).",
                "security": _SECURITY,
                "parameters": [{"name": "item_kind", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": _body({"type": "object", "required": ["url"],
                                      "properties": {"url": {"type": "string", "format": "uri"}}}),
                "responses": {"200": _json("Registered.", {"type": "object"}),
                              "400": _problem("BAD_USER_INPUT."), **_AUTH_ERRORS}}},
            "/exchange/records": {"get": {
                "summary": "The records of your own requests, newest first (scope exchange:records).",
                "security": _SECURITY,
                "parameters": [{"name": "first", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                               {"name": "after", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json("A page of records (names of items, never values).", {"type": "object"}),
                              "400": _problem("BAD_USER_INPUT."), **_AUTH_ERRORS}}},
            "/exchange/legal-table": {"get": {
                "summary": "The legal table in force: rows, duties, item kinds, citations.",
                "responses": {"200": _json("The table.", {"type": "object"})}}},
            "/exchange/openapi.json": {"get": {
                "summary": "This document.", "responses": {"200": _json("OpenAPI 3.1.", {"type": "object"})}}},
        },
    }
