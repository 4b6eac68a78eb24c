"""The OpenAPI 3.1 document of the corporate-number API, and a Swagger UI page to try it."""

from __future__ import annotations

from typing import Any

from corporate import records
from corporate.api_errors import CATALOGUE

_TYPE = {"name": "type", "in": "query", "required": True, "description":
         "01 CSV Shift-JIS, 02 CSV Unicode, 12 XML Unicode (as the NTA), 21 JSON (ours).",
         "schema": {"type": "string", "enum": ["01", "02", "12", "21"]}}
_ID = {"name": "id", "in": "query", "required": True, "description": "Your application id (13 characters).",
       "schema": {"type": "string", "minLength": 13, "maxLength": 13}}
_DIVIDE = {"name": "divide", "in": "query", "description": "Page number; 2,000 records a page.",
           "schema": {"type": "integer", "minimum": 1, "maximum": 99999, "default": 1}}
_ADDRESS = {"name": "address", "in": "query", "description":
            "2-digit prefecture code (01-47, 99 abroad) or 5 digits: prefecture + 3-digit city code.",
            "schema": {"type": "string", "pattern": "^[0-9]{2}([0-9]{3})?$"}}
_KIND = {"name": "kind", "in": "query", "description":
         "Up to four of 01 national organ, 02 local government, 03 registered corporation, 04 other; "
         "comma-separated.", "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _responses(cacheable: bool) -> dict[str, Any]:
    headers = {"ETag": {"schema": {"type": "string"}}, "Last-Modified": {"schema": {"type": "string"}}} \
        if cacheable else {}
    errors = "; ".join(f"{code} {kind.english}" for code, kind in CATALOGUE.items())
    ok: dict[str, Any] = {
        "description": "Header (lastUpdateDate, count, divideNumber, divideSize) then the records.",
        "headers": headers,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/xml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/Answer"}},
        },
    }
    responses: dict[str, Any] = {"200": ok}
    if cacheable:
        responses["304"] = {"description": "Not modified (If-None-Match / If-Modified-Since)."}
    example = "042,法人番号(number)は10件以内で指定してください。"
    error_content = {"text/plain": {"schema": {"type": "string", "example": example}},
                     "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses["400"] = {"description": f"Invalid request. Codes: {errors}", "content": error_content}
    responses["404"] = {"description": "Unknown or revoked application id (001).", "content": error_content}
    responses["429"] = {"description": "Rate limit of the application id (002); see Retry-After.",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": error_content}
    return responses


def openapi_document() -> dict[str, Any]:
    record = {"type": "object", "properties": {name: {"type": ["string", "null"]} for name in records.FIELDS}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Corporate-number API (法人番号)",
            "version": "4",
            "description": "Compatible with the National Tax Agency's corporate-number Web-API Ver.4: same paths, "
                           "parameters, limits, paging and output types, plus JSON (type=21). Get an "
                           "application id at once with the GraphQL mutation corporateApplicationIdCreate or "
                           "`mynaportal corporate app-id`. Source: 国税庁法人番号公表サイト (data edited: "
                           "history and search keys added). Passing the check digit does not mean a number exists.",
        },
        "paths": {
            "/corporate/4/num": {"get": {
                "summary": "Look up up to 10 corporate numbers",
                "parameters": [_ID, _query("number", "1 to 10 thirteen-digit numbers, comma-separated.",
                                           {"type": "string"}, True), _TYPE,
                               _query("history", "0 latest state only (default), 1 every state.",
                                      {"type": "string", "enum": ["0", "1"]})],
                "responses": _responses(True)}},
            "/corporate/4/diff": {"get": {
                "summary": "Changes published in a window of at most 50 days",
                "parameters": [_ID, _query("from", "First update date, 2015-12-01 or later.",
                                           {"type": "string", "format": "date"}, True),
                               _query("to", "Last update date, at most 50 days after from.",
                                      {"type": "string", "format": "date"}, True), _TYPE, _ADDRESS, _KIND, _DIVIDE],
                "responses": _responses(False)}},
            "/corporate/4/name": {"get": {
                "summary": "Search by name: normalised, ranked exact, then prefix, then partial",
                "parameters": [
                    _ID, _query("name", "The name, its furigana or its English name. Width, case, kana, "
                                        "long-vowel marks and legal forms (株式会社, (株), Co., Ltd.) are ignored.",
                                {"type": "string"}, True), _TYPE,
                    _query("mode", "1 prefix match (default), 2 partial match.",
                           {"type": "string", "enum": ["1", "2"]}),
                    _query("target", "1 normalised (default), 2 the name must also contain the text as typed, "
                                     "3 English name.", {"type": "string", "enum": ["1", "2", "3"]}),
                    _ADDRESS, _KIND,
                    _query("change", "0 current names (default), 1 past names too.",
                           {"type": "string", "enum": ["0", "1"]}),
                    _query("close", "1 include closed (default), 0 exclude them.",
                           {"type": "string", "enum": ["0", "1"]}),
                    _query("from", "Assignment date from (2015-10-05 or later).", {"type": "string", "format": "date"}),
                    _query("to", "Assignment date to.", {"type": "string", "format": "date"}), _DIVIDE],
                "responses": _responses(False)}},
        },
        "components": {"schemas": {
            "Record": record,
            "Answer": {"type": "object", "properties": {
                "lastUpdateDate": {"type": ["string", "null"]}, "count": {"type": "integer"},
                "divideNumber": {"type": "integer"}, "divideSize": {"type": "integer"},
                "corporations": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}},
            "Problem": {"type": "object", "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "instance": {"type": "string"}, "code": {"type": "string"}}},
        }},
    }


# swagger-ui-dist 5.35.0, vendored in api/web/static/vendor (see its README): no CDN.
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Corporate-number API</title>
<link rel="stylesheet" href="/web/static/vendor/swagger-ui/swagger-ui.css"></head>
<body><div id="docs"></div>
<script src="/web/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/corporate/openapi.json", dom_id: "#docs"});</script>
</body></html>
"""
