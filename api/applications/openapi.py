"""The OpenAPI 3.1 document of the municipality's inbox and the public catalogue (at /applications/openapi.json)."""

from __future__ import annotations

from typing import Any

from api.applications.models import STATUSES
from api.platform.errors import PROBLEM_MEDIA_TYPE

_PROBLEM = {
    "type": "object", "required": ["type", "title", "status", "detail", "code"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "code": {"type": "string"}, "field": {"type": "string"},
                   "header": {"type": "string"}},
}
_SECURITY = [{"inboxToken": []}]
_STATUS = {"type": "string", "enum": [s for s in STATUSES if s != "draft"],
           "description": "received 受付, reviewing 審査中, correction_requested 補正依頼, completed 完了, "
                          "rejected 却下, withdrawn 取下げ (by the applicant, before a decision)"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_AUTH = {"401": _problem("UNAUTHENTICATED: no or an invalid agency key or staff token."),
         "403": _problem("FORBIDDEN: not a municipality, the key lacks the scope, or a reader's role.")}
_SUMMARY = {"type": "object", "properties": {
    "receptionNumber": {"type": "string"}, "procedure": {"type": "string"}, "formVersion": {"type": "integer"},
    "status": _STATUS, "applicantCode": {"type": ["string", "null"], "description": "Your own code for the person."},
    "subjectCode": {"type": ["string", "null"]}, "basis": {"type": "string", "enum": ["self", "parent", "grant"]},
    "submittedAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"},
    "decidedAt": {"type": ["string", "null"], "format": "date-time"}}}
_OFFERING = {"type": "object", "properties": {
    "procedure": {"type": "string"}, "formVersion": {"type": "integer"}, "signatureRequired": {"type": "boolean"},
    "feeYen": {"type": "integer"}, "note": {"type": ["string", "null"]},
    "publishedAt": {"type": "string", "format": "date-time"},
    "withdrawnAt": {"type": ["string", "null"], "format": "date-time"}}}
_APPLICATION = {"type": "object", "allOf": [_SUMMARY], "properties": {
    "form": {"type": "object"}, "prefill": {"type": "object"},
    "attachments": {"type": "array", "items": {"type": "object"}},
    "signature": {"type": "object", "description": "The signed canonical JSON (RFC 8785, base64), its SHA-256, the "
                  "PKCS#1 v1.5 / ECDSA signature and the JPKI signature certificate with its chain (base64 DER)."},
    "history": {"type": "array", "items": {"type": "object"}}}}


def openapi_document() -> dict[str, Any]:
    number = _path("number")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Online applications: the municipality's inbox (電子申請等情報受取等API)", "version": "1",
                 "description": "A municipality lists, fetches and moves the applications people sent it online, "
                                "signed with the My Number card. Every fetch and move is on the applicant's record."},
        "components": {"securitySchemes": {"inboxToken": {
            "type": "http", "scheme": "bearer",
            "description": "The municipality's agency key (applications:inbox, applications:decide) or a staff "
                           "member's token (role reader or decider)."}}},
        "paths": {
            "/applications/catalogue": {"get": {
                "summary": "The published procedures, searched by keyword (kana-normalised), category, life event "
                           "and municipality.",
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in ("keyword", "category", "lifeEvent", "municipality")],
                "responses": {"200": _json("The procedures.", {"type": "object"}),
                              "400": _problem("BAD_USER_INPUT: unknown category or life event.")}}},
            "/applications/offerings": {"get": {
                "summary": "What your municipality publishes (withdrawn ones too): national procedures and its own.",
                "security": [{"inboxToken": []}],
                "responses": {"200": _json("The offerings.", {"type": "object", "properties": {
                    "offerings": {"type": "array", "items": _OFFERING}}}), **_AUTH}}},
            "/applications/offerings/{procedure}": {
                "put": {"summary": "Publish (or re-publish at the catalogue's current form version) a procedure. A "
                                   "municipality's own procedure (code beginning with its code) only by that "
                                   "municipality. The key needs applications:publish.",
                        "security": [{"inboxToken": []}], "parameters": [_path("procedure")],
                        "requestBody": {"required": True, "content": {"application/json": {"schema": {
                            "type": "object", "properties": {
                                "signatureRequired": {"type": ["boolean", "null"], "description":
                                                      "Require the card's signature (never drop one the "
                                                      "catalogue requires)."},
                                "feeYen": {"type": ["integer", "null"], "minimum": 0, "maximum": 100000},
                                "note": {"type": ["string", "null"], "maxLength": 500}}}}}},
                        "responses": {"200": _json("The offering.", _OFFERING),
                                      "400": _problem("BAD_USER_INPUT."), **_AUTH,
                                      "403": _problem("PROCEDURE_NOT_OWNED: another municipality's own procedure; "
                                                      "FORBIDDEN."),
                                      "404": _problem("PROCEDURE_UNKNOWN.")}},
                "delete": {"summary": "Withdraw it: drafts can no longer be sent; what was sent goes on.",
                           "security": [{"inboxToken": []}], "parameters": [_path("procedure")],
                           "responses": {"200": _json("The withdrawn offering.", _OFFERING), **_AUTH,
                                         "404": _problem("PROCEDURE_NOT_OFFERED: not published.")}}},
            "/applications/inbox": {"get": {
                "summary": "Your municipality's applications, oldest first, by status.", "security": _SECURITY,
                "parameters": [{"name": "status", "in": "query", "schema": _STATUS},
                               {"name": "first", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                          "maximum": 100}},
                               {"name": "after", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json("A page.", {"type": "object", "properties": {
                    "applications": {"type": "array", "items": _SUMMARY}, "hasNextPage": {"type": "boolean"},
                    "endCursor": {"type": ["string", "null"]}}}),
                    "400": _problem("BAD_USER_INPUT."), **_AUTH}}},
            "/applications/inbox/{number}": {"get": {
                "summary": "One application by 受付番号: form, attachments, signature material, history.",
                "security": _SECURITY, "parameters": [number],
                "responses": {"200": _json("The application.", _APPLICATION), **_AUTH,
                              "404": _problem("NOT_FOUND: not your municipality's.")}}},
            "/applications/inbox/{number}/attachments/{attachment}": {"get": {
                "summary": "An attachment's content, streamed.", "security": _SECURITY,
                "parameters": [number, _path("attachment")],
                "responses": {"200": {"description": "The file (PDF, PNG or JPEG).",
                                      "content": {"application/octet-stream": {}}},
                              **_AUTH, "404": _problem("NOT_FOUND.")}}},
            "/applications/inbox/{number}/moves": {"post": {
                "summary": "Move the application (審査中, 補正依頼 with a note, 完了, 却下); the person gets a notice.",
                "security": _SECURITY,
                "parameters": [number, {"name": "Idempotency-Key", "in": "header", "required": True,
                                        "schema": {"type": "string", "maxLength": 100}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status"],
                    "properties": {"status": _STATUS, "note": {"type": ["string", "null"], "maxLength": 1000}}}}}},
                "responses": {"200": _json("Moved (or the first answer to this Idempotency-Key).", {"type": "object"}),
                              "400": _problem("BAD_USER_INPUT, IDEMPOTENCY_KEY_INVALID."), **_AUTH,
                              "404": _problem("NOT_FOUND."),
                              "409": _problem("APPLICATION_ALREADY_DECIDED, APPLICATION_TRANSITION_INVALID, "
                                              "IDEMPOTENCY_KEY_REUSED.")}}},
            "/applications/openapi.json": {"get": {
                "summary": "This document.", "responses": {"200": _json("OpenAPI 3.1.", {"type": "object"})}}},
        },
    }
