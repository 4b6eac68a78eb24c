"""The OpenAPI 3.1 documents of the certificates' REST surfaces: the public one (verification page, RFC 3161
time-stamping, trust certificates; api.certificates.rest) and the kiosk API (api.certificates.kiosk_rest)."""

from __future__ import annotations

from typing import Any

from api.platform.openapi import UUID, document, header_param, json_answer, path_param, problem

_KIOSK = [{"kioskKey": []}]
_KINDS = ["resident-record", "resident-record-items", "seal", "family-register-all", "family-register-person", "tax"]
_ISSUANCE = {"type": "object", "required": ["id", "certificate", "state", "fee", "serial"],
             "properties": {"id": UUID, "certificate": {"type": "string", "enum": _KINDS},
                            "state": {"type": "string", "enum": ["awaiting-payment", "issued", "handed", "printed",
                                                                 "void"]},
                            "fee": {"type": "integer"}, "pages": {"type": ["integer", "null"]},
                            "serial": {"type": "string"}, "issued_at": {"type": ["string", "null"]}}}
_TEXT = {400: "Invalid input (BAD_USER_INPUT, TEXT_INVALID, VALUE_OUT_OF_RANGE, IDEMPOTENCY_KEY_INVALID).",
         401: "No or an unknown kiosk key (UNAUTHENTICATED), or the card's signature does not match "
              "(SIGNATURE_INVALID).",
         404: "Nothing of this kiosk's session has this id (NOT_FOUND, CERTIFICATE_UNKNOWN, CHALLENGE_UNKNOWN, "
              "CERTIFICATE_NOT_AVAILABLE).",
         409: "Already handed to the kiosk (DOCUMENT_ALREADY_HANDED), a challenge used (CHALLENGE_USED), a key "
              "reused for another request (IDEMPOTENCY_KEY_REUSED).",
         410: "The card's session at this kiosk has ended (KIOSK_SESSION_ENDED), or the challenge expired.",
         413: "The body is too large (PAYLOAD_TOO_LARGE).",
         422: "A character of the certificate has no glyph in the fonts here (GLYPH_MISSING): not issued.",
         429: "Too many card authentications (RATE_LIMITED).",
         503: "Revocation status or the municipality's signing key unavailable (REVOCATION_UNAVAILABLE, "
              "ISSUING_UNAVAILABLE): try again."}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): problem(_TEXT[status]) for status in statuses}


_SESSION = path_param("session_id", UUID, "The card's session at this kiosk.")
_DOCUMENT = path_param("issuance_id", UUID, "The certificate's id.")


def kiosk_document() -> dict[str, Any]:
    paths = {
        "/kiosk/v1/challenges": {"post": {
            "summary": "A challenge for the card to sign with its user-authentication key", "security": _KIOSK,
            "responses": {"201": json_answer("The challenge: sign login_message(client_id, nonce).", {
                "type": "object", "required": ["challenge_id", "nonce", "client_id", "expires_at"],
                "properties": {"challenge_id": UUID, "nonce": {"type": "string"}, "client_id": {"type": "string"},
                               "expires_at": {"type": "string"}}}), **_errors(401, 429)}}},
        "/kiosk/v1/sessions": {"post": {
            "summary": "The card authenticated: its certificate, chain and signature open its session at this kiosk",
            "security": _KIOSK,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["challenge_id", "certificate", "signature"],
                "properties": {"challenge_id": UUID, "certificate": {"type": "string", "maxLength": 8192},
                               "chain": {"type": "array", "maxItems": 4, "items": {"type": "string"}},
                               "signature": {"type": "string", "maxLength": 8192}}}}}},
            "responses": {"201": json_answer("The session.", {"type": "object", "required": ["session_id"],
                                                              "properties": {"session_id": UUID,
                                                                             "expires_at": {"type": "string"}}}),
                          **_errors(400, 401, 404, 409, 410, 413, 429, 503)}}},
        "/kiosk/v1/sessions/{session_id}": {"delete": {
            "summary": "The card left the reader: the session ends, documents not taken are voided",
            "security": _KIOSK, "parameters": [_SESSION],
            "responses": {"204": {"description": "Ended (or already ended)."}, **_errors(401, 404)}}},
        "/kiosk/v1/sessions/{session_id}/certificates": {"post": {
            "summary": "Make a certificate of the session's card holder (the fee paid at the kiosk)",
            "security": _KIOSK,
            "parameters": [_SESSION, header_param("Idempotency-Key", "1-64 ASCII characters: a retry with the same "
                                                  "key answers the same document.", required=True)],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["certificate", "receipt"],
                "properties": {"certificate": {"type": "string", "enum": _KINDS},
                               "receipt": {"type": "string", "minLength": 1, "maxLength": 64},
                               "replaces": UUID,
                               "options": {"type": "object", "properties": {
                                   "household": {"type": "boolean"}, "honseki": {"type": "boolean"},
                                   "relationship": {"type": "boolean"}, "tax_year": {"type": "integer"}}}}}}}},
            "responses": {"201": json_answer("The signed certificate, waiting for this kiosk.", _ISSUANCE),
                          **_errors(400, 401, 404, 409, 410, 413, 422, 503)}}},
        "/kiosk/v1/sessions/{session_id}/certificates/{issuance_id}/document": {"post": {
            "summary": "The signed PDF, once, to this kiosk only (the server keeps no copy afterwards)",
            "security": _KIOSK, "parameters": [_SESSION, _DOCUMENT],
            "responses": {"200": {"description": "The PDF.", "content": {"application/pdf": {"schema": {
                "type": "string", "format": "binary"}}}}, **_errors(401, 404, 409, 410)}}},
        "/kiosk/v1/sessions/{session_id}/certificates/{issuance_id}/print-result": {"post": {
            "summary": "The print's outcome: printed, or failed (the document is voided; reissue with replaces)",
            "security": _KIOSK, "parameters": [_SESSION, _DOCUMENT],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["printed"], "properties": {"printed": {"type": "boolean"}}}}}},
            "responses": {"200": json_answer("The document's state.", {"type": "object", "properties": {
                "state": {"type": "string"}}}), **_errors(400, 401, 404, 413)}}},
    }
    return document("Mynaportal: コンビニ交付 kiosk API",
                    "Registered kiosks (a key per terminal) read the card, ask for the card holder's certificates, "
                    "receive each PDF once and report the print.", paths,
                    security_schemes={"kioskKey": {"type": "http", "scheme": "bearer"}})


def public_document() -> dict[str, Any]:
    paths = {
        "/certificates/v1/verify/{public_id}": {"get": {
            "summary": "What the QR code leads to: was this certificate issued, by whom, when, is it revoked",
            "parameters": [path_param("public_id", {"type": "string", "maxLength": 32}, "The QR code's id.")],
            "responses": {"200": {"description": "JSON, or an HTML page when Accept asks for text/html.", "content": {
                "application/json": {"schema": {"type": "object", "required": ["certificate", "issuer", "serial",
                                                                                "issued_at", "status"],
                                                "properties": {"certificate": {"type": "string"},
                                                               "issuer": {"type": "string"},
                                                               "serial": {"type": "string"},
                                                               "issued_at": {"type": "string"},
                                                               "pages": {"type": ["integer", "null"]},
                                                               "status": {"type": "string",
                                                                          "enum": ["valid", "revoked"]},
                                                               "revocation_reason": {"type": ["string", "null"]},
                                                               "document_sha256": {"type": ["string", "null"]}}}},
                "text/html": {"schema": {"type": "string"}}}},
                "404": problem("No certificate was issued with this id (NOT_FOUND).")}}},
        "/certificates/v1/tsa": {"post": {
            "summary": "RFC 3161 time-stamping: a DER TimeStampReq in, a TimeStampResp out",
            "requestBody": {"required": True, "content": {"application/timestamp-query": {"schema": {
                "type": "string", "format": "binary"}}}},
            "responses": {"200": {"description": "The reply.", "content": {"application/timestamp-reply": {
                "schema": {"type": "string", "format": "binary"}}}},
                "400": problem("Not a v1 TimeStampReq with a SHA-2 imprint (BAD_USER_INPUT)."),
                "413": problem("Too large (PAYLOAD_TOO_LARGE)."),
                "503": problem("Not configured here (ISSUING_UNAVAILABLE).")}}},
        "/certificates/v1/trust/{name}.pem": {"get": {
            "summary": "The certificates to trust: root (the municipal CA) or tsa",
            "parameters": [path_param("name", {"type": "string", "enum": ["root", "tsa"]}, "Which.")],
            "responses": {"200": {"description": "PEM.", "content": {"application/x-pem-file": {"schema": {
                "type": "string"}}}}, "404": problem("Not published here (NOT_FOUND)."),
                "503": problem("Not configured here (ISSUING_UNAVAILABLE).")}}},
        "/delivery/v1/documents/{token}": {"post": {
            "summary": "A delivery service takes a certificate offered to it, once (the link from its signed webhook)",
            "security": [{"deliveryServiceKey": []}],
            "parameters": [path_param("token", {"type": "string", "maxLength": 100},
                                      "The one-time link's token (data.certificate.fetch.url of the webhook).")],
            "responses": {"200": {"description": "The signed PDF; the server keeps no copy afterwards.", "headers": {
                "X-Content-SHA256": {"schema": {"type": "string"}, "description": "Hex SHA-256 of the PDF."}},
                "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                "401": problem("No or an unknown fetch key (UNAUTHENTICATED)."),
                "404": problem("No document is offered to this service at this link (NOT_FOUND): an unknown "
                               "link and another service's link get the same answer."),
                "409": problem("Already taken (DOCUMENT_ALREADY_HANDED)."),
                "410": problem("The link expired (FETCH_LINK_EXPIRED).")}}},
    }
    return document("Mynaportal: certificate verification, time-stamping and delivery",
                    "Anyone holding a certificate checks it here; the RFC 3161 TSA that stamps every certificate; "
                    "delivery services take the certificates offered to them.", paths,
                    security_schemes={"deliveryServiceKey": {"type": "http", "scheme": "bearer"}})
