"""The OpenAPI 3.1 document of the correction-request API (api.selfinfo.rest)."""

from __future__ import annotations

from typing import Any

from api.platform.openapi import UUID, document, json_answer, path_param, problem, query_param

_AGENCY = [{"agencyKey": []}]
_CORRECTION = {"type": "object", "required": ["id", "person_code", "item", "message", "status", "created_at"],
               "properties": {"id": UUID, "person_code": {"type": "string"}, "item": {"type": "string"},
                              "message": {"type": "string"},
                              "status": {"type": "string", "enum": ["open", "corrected", "rejected"]},
                              "answer": {"type": ["string", "null"]}, "created_at": {"type": "string"},
                              "answered_at": {"type": ["string", "null"]}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Invalid input (BAD_USER_INPUT, TEXT_INVALID, VALUE_OUT_OF_RANGE).",
            401: "No or an unknown API key (UNAUTHENTICATED).",
            403: "The key lacks corrections:answer (FORBIDDEN).",
            404: "No correction request of this agency has this id (NOT_FOUND).",
            409: "Already answered (CORRECTION_ALREADY_ANSWERED).",
            413: "The body is too large (PAYLOAD_TOO_LARGE)."}
    return {str(status): problem(text[status]) for status in statuses}


def openapi_document() -> dict[str, Any]:
    paths = {
        "/selfinfo/v1/corrections": {"get": {
            "summary": "The agency's correction requests (訂正請求) in a status, oldest first",
            "security": _AGENCY,
            "parameters": [query_param("status", {"type": "string", "enum": ["open", "corrected", "rejected"]},
                                       "Default open."),
                           query_param("first", {"type": "integer", "minimum": 1, "maximum": 100}, "Page size."),
                           query_param("after", {"type": "string"}, "The next_cursor of the previous page.")],
            "responses": {"200": json_answer("A page.", {"type": "object", "required": ["items", "next_cursor"],
                                                         "properties": {"items": {"type": "array",
                                                                                  "items": _CORRECTION},
                                                                        "next_cursor": {"type": ["string", "null"]}}}),
                          **_errors(400, 401, 403)}}},
        "/selfinfo/v1/corrections/{correction_id}/answer": {"post": {
            "summary": "Answer a correction request once; the person gets it as a notice, and it is on their record",
            "security": _AGENCY,
            "parameters": [path_param("correction_id", UUID, "The request's id.")],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["outcome", "message"],
                "properties": {"outcome": {"type": "string", "enum": ["corrected", "rejected"]},
                               "message": {"type": "string", "minLength": 1, "maxLength": 2000}}}}}},
            "responses": {"200": json_answer("The answered request.", _CORRECTION),
                          **_errors(400, 401, 403, 404, 409, 413)}}},
    }
    return document("Mynaportal: correction requests (訂正請求) for providing agencies",
                    "Agencies that provided a person's data read the requests to correct it and answer them, "
                    "with their API key (scope corrections:answer).", paths,
                    security_schemes={"agencyKey": {"type": "http", "scheme": "bearer"}})
