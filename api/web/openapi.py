"""The OpenAPI 3.1 document of the web portal's routes (api.web.app): HTML pages, and the few JSON endpoints
its scripts call. Every POST needs the browser's form token (field ``csrf`` or header ``X-CSRF-Token``)."""

from __future__ import annotations

from typing import Any

from api.platform.openapi import document, path_param

_HTML = {"text/html": {"schema": {"type": "string"}}}
_PAGE = {"description": "The page.", "content": _HTML}
_TO_LOGIN = {"description": "Not signed in (or signed out): to the login page."}
_REFUSED = {"description": "No valid form token, or the session lacks what the page needs (an HTML page).",
            "content": _HTML}
# A path no route matches (an id with a newline, ...) is the app's RFC 9457 problem, like any unknown path.
_NOT_FOUND = {"description": "No such item (an HTML page), or no such path (a problem).", "content": {
    **_HTML, "application/problem+json": {"schema": {"type": "object"}}}}
_BAD = {"description": "The request cannot be carried out (an HTML page).", "content": _HTML}
_JSON = {"application/json": {"schema": {"type": "object"}}}
_CSRF = {"name": "X-CSRF-Token", "in": "header", "required": False, "schema": {"type": "string"},
         "description": "The browser's form token (the page carries it)."}


def _page(summary: str, *, item: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {
        "200": _PAGE, "303": _TO_LOGIN, "403": _REFUSED, "400": _BAD, **({"404": _NOT_FOUND} if item else {})}}
    if item:
        operation["parameters"] = [path_param(item, {"type": "string", "format": "uuid"}, "The item's id.")]
    return {"get": operation}


def _post(summary: str, answers: dict[str, Any], *, body: dict[str, Any] | None = None,
          item: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "parameters": [_CSRF], "responses": {
        **answers, "403": _REFUSED, "400": _BAD, "401": _BAD, "404": _NOT_FOUND, "409": _BAD, "429": _BAD,
        "503": _BAD}}
    if item:
        operation["parameters"].append(path_param(item, {"type": "string", "format": "uuid"}, "The item's id."))
    operation["requestBody"] = {"required": False, "content": body or {
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
            "csrf": {"type": "string"}}}}}}
    return {"post": operation}


def openapi_document() -> dict[str, Any]:
    redirect = {"303": {"description": "Done: to the next page."}}
    json_answer = {"200": {"description": "The answer.", "content": _JSON}}
    paths = {
        "/": {"get": {"summary": "To the web portal", "responses": {"307": {"description": "To /web/."}}}},
        "/web/": _page("Home: お知らせ and the payments due"),
        "/web/notices": _page("お知らせ"),
        "/web/notices/{notice_id}": _page("One notice (opening it reads it)", item="notice_id"),
        "/web/payments": _page("公金決済: payments due and past payments"),
        "/web/payments/{payment_id}": _page("One payment (where the gateway's return leads)", item="payment_id"),
        "/web/payments/orders/{order_id}/pay": _post(
            "Pay an order: to the payment gateway's page", redirect, item="order_id", body={
                "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
                    "csrf": {"type": "string"}, "method": {"type": "string", "enum": ["card", "net_banking"]},
                    "idempotency_key": {"type": "string"}}}}}),
        "/web/history": _page("やりとり履歴"),
        "/web/me": _page("わたしの情報"),
        "/web/proxies": _page("代理人"),
        "/web/login": _page("Sign in: with the card (local helper) or a QR code approved in the app"),
        "/web/login/card/challenge": _post("A card-login challenge for the local helper to sign", json_answer),
        "/web/login/card": _post("Finish the card login with the helper's web-eid:1.0 token", json_answer,
                                 body={"application/json": {"schema": {"type": "object"}}}),
        "/web/login/qr": _post("Show a QR code and user code for the app to approve (RFC 8628)",
                               {"200": _PAGE}),
        "/web/device/poll": _post("Poll the sign-in this browser started (PC QR login or TV)", json_answer),
        "/web/logout": _post("Sign out (ends the session on the server)", redirect),
        "/web/tv": _page("The TV: sign-in by QR code and user code, then notices and payments due"),
    }
    return document("Mynaportal web portal",
                    "Server-rendered pages for a PC, a phone and a TV. Pages answer HTML; the sign-in scripts' "
                    "endpoints answer JSON.", paths)
