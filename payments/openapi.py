"""The OpenAPI 3.1 document of the payments REST API (payments.rest): agencies' orders, payments, refunds
and reconciliation, the gateway's notifications and the browser's return page."""

from __future__ import annotations

from typing import Any

from api.platform.openapi import (
    DATE,
    UUID,
    document,
    header_param,
    json_answer,
    path_param,
    problem,
    query_param,
)

_AGENCY = [{"agencyKey": []}]
_IDEMPOTENCY = header_param("Idempotency-Key", "Any string; a replay with the same body answers the original.",
                            required=True)
_ORDER_ID = path_param("order_id", UUID, "The order's id.")
_PAYMENT_ID = path_param("payment_id", UUID, "The payment's id.")
_STATES = ["created", "started", "submitted", "capturable", "success", "declined", "timedout", "cancelled", "error"]


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Invalid input (BAD_USER_INPUT, AMOUNT_INVALID, IDEMPOTENCY_KEY_INVALID, ...).",
            401: "No or an unknown API key (UNAUTHENTICATED) or a bad signature (SIGNATURE_INVALID).",
            403: "The key lacks the operation's scope (FORBIDDEN).",
            404: "Nothing of this agency has this id (NOT_FOUND).",
            409: "A conflict with the resource's state or an Idempotency-Key used for another body.",
            503: "The payment gateway did not answer (GATEWAY_UNAVAILABLE); retry later."}
    return {str(status): problem(text[status]) for status in statuses}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


def openapi_document() -> dict[str, Any]:
    order = {"type": "object", "required": ["order_id", "amount", "state"]}
    order_body = _body({
        "person_code": {"type": "string", "description": "The agency's own code for the person."},
        "amount": {"type": "integer", "minimum": 1, "description": "Yen."},
        "purpose": {"type": "string", "maxLength": 200}, "due_date": DATE,
        "reference": {"type": "string", "maxLength": 64, "description": "The agency's reference, unique."},
        "payable_until": DATE, "notice_id": UUID}, ["person_code", "amount", "purpose", "due_date", "reference"])
    paths = {
        "/payments/gateway/notifications": {"post": {
            "summary": "The payment gateway's signed notification of a session's state (Standard Webhooks)",
            "parameters": [header_param("webhook-id", "Message id.", required=True),
                           header_param("webhook-timestamp", "Unix seconds.", required=True),
                           header_param("webhook-signature", "v1,<base64 HMAC-SHA256>.", required=True)],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"204": {"description": "Applied (a repeat is applied once)."}, **_errors(400, 401, 404)}}},
        "/payments/return/{payment_id}": {"get": {
            "summary": "Where the gateway sends the browser back; redirects to the app (or the web portal)",
            "parameters": [_PAYMENT_ID, {"name": "to", "in": "query", "required": False,
                                         "description": "`web`: back to the web portal's payment page.",
                                         "schema": {"type": "string", "enum": ["web"]}}],
            "responses": {"303": {"description": "To the app's (or the web portal's) payment page."},
                          **_errors(400, 404, 409, 503)}}},
        "/payments/v1/orders": {"post": {
            "summary": "Create a payment order for a person", "security": _AGENCY,
            "parameters": [_IDEMPOTENCY], "requestBody": order_body,
            "responses": {"201": json_answer("Created.", order), "200": json_answer("A replay: the original.", order),
                          **_errors(400, 401, 403, 404, 409)}}},
        "/payments/v1/orders/{order_id}": {"get": {
            "summary": "One of the agency's orders", "security": _AGENCY, "parameters": [_ORDER_ID],
            "responses": {"200": json_answer("The order.", order), **_errors(401, 403, 404)}}},
        "/payments/v1/orders/{order_id}/cancel": {"post": {
            "summary": "Cancel an unpaid order", "security": _AGENCY, "parameters": [_ORDER_ID, _IDEMPOTENCY],
            "responses": {"200": json_answer("The cancelled order.", order), **_errors(400, 401, 403, 404, 409)}}},
        "/payments/v1/payments": {"get": {
            "summary": "A page of the agency's payments", "security": _AGENCY,
            "parameters": [query_param("first", {"type": "integer", "minimum": 1, "maximum": 100}, "Page size."),
                           query_param("after", {"type": "string"}, "The cursor of the previous page."),
                           query_param("state", {"type": "string", "enum": _STATES}, "Only this state."),
                           query_param("from_date", DATE, "Created on or after."),
                           query_param("to_date", DATE, "Created on or before."),
                           query_param("reference", {"type": "string"}, "The order's reference.")],
            "responses": {"200": json_answer("The page."), **_errors(400, 401, 403)}}},
        "/payments/v1/payments/{payment_id}": {"get": {
            "summary": "One of the agency's payments with its refunds", "security": _AGENCY,
            "parameters": [_PAYMENT_ID], "responses": {"200": json_answer("The payment."), **_errors(401, 403, 404)}}},
        "/payments/v1/payments/{payment_id}/refunds": {"post": {
            "summary": "Refund some or all of a successful payment", "security": _AGENCY,
            "parameters": [_PAYMENT_ID, _IDEMPOTENCY],
            "requestBody": _body({"amount": {"type": "integer", "minimum": 1},
                                  "refund_amount_available": {"type": "integer", "minimum": 0}}, ["amount"]),
            "responses": {"201": json_answer("Refund created."), "200": json_answer("A replay: the original."),
                          **_errors(400, 401, 403, 404, 409, 503)}}},
        "/payments/v1/reconciliation/{day}": {"get": {
            "summary": "The day's ledger against the gateway's settlement file", "security": _AGENCY,
            "parameters": [path_param("day", DATE, "YYYY-MM-DD.")],
            "responses": {"200": json_answer("The report."), **_errors(400, 401, 403, 404, 503)}}},
        "/payments/v1/callback-endpoint": {"put": {
            "summary": "Set the agency's HTTPS callback URL; answers its new signing secret", "security": _AGENCY,
            "requestBody": _body({"url": {"type": "string", "format": "uri"}}, ["url"]),
            "responses": {"200": json_answer("The URL and its secret."), **_errors(400, 401, 403)}}},
    }
    return document("Payments (公金収納)", "Agencies' payment orders, payments, refunds and reconciliation. "
                    "Errors are RFC 9457 problems with a stable `code`.", paths,
                    security_schemes={"agencyKey": {"type": "http", "scheme": "bearer",
                                                    "description": "An agency API key (mpa_…)."}})
