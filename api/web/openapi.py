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


def _item(name: str) -> dict[str, Any]:
    # A 受付番号 is the municipality's own text; every other item is a UUID.
    schema = {"type": "string"} if name == "reception_number" else {"type": "string", "format": "uuid"}
    return path_param(name, schema, "The item's id.")


def _page(summary: str, *, item: str | None = None, content: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {
        "200": {"description": "The page.", "content": content or _HTML}, "303": _TO_LOGIN, "403": _REFUSED,
        "400": _BAD, **({"404": _NOT_FOUND} if item else {})}}
    if item:
        operation["parameters"] = [_item(item)]
    return {"get": operation}


def _post(summary: str, answers: dict[str, Any], *, body: dict[str, Any] | None = None,
          item: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "parameters": [_CSRF], "responses": {
        **answers, "403": _REFUSED, "400": _BAD, "401": _BAD, "404": _NOT_FOUND, "409": _BAD, "413": _BAD,
        "415": _BAD, "422": _BAD, "429": _BAD, "503": _BAD}}
    if item:
        operation["parameters"].append(_item(item))
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
        "/web/applications": _page("申請: ぴったり, さがす and my applications"),
        "/web/applications/start": _post("Start a draft of a procedure (a child's names the child)", redirect),
        "/web/applications/{application_id}": _page("A draft or a sent application", item="application_id"),
        "/web/applications/{application_id}/save": _post("Save what was typed (the revision loaded)", redirect,
                                                          item="application_id"),
        "/web/applications/{application_id}/prefill": _post(
            "Obtain the consented items through the information-exchange network", redirect, item="application_id"),
        "/web/applications/{application_id}/attach": _post(
            "Attach a file (PDF, PNG or JPEG, checked by content)", redirect, item="application_id",
            body={"multipart/form-data": {"schema": {"type": "object", "properties": {
                "csrf": {"type": "string"}, "requirement": {"type": "string"},
                "file": {"type": "string", "format": "binary"}}}}}),
        "/web/applications/{application_id}/to-sign": _post(
            "The canonical document the card signs (for the local helper)", json_answer, item="application_id"),
        "/web/applications/{application_id}/submit": _post(
            "Send the application with the card's signature", json_answer, item="application_id",
            body={"application/json": {"schema": {"type": "object"}}}),
        "/web/applications/{application_id}/withdraw": _post(
            "取下げ: withdraw a draft or an application not yet decided (an optional reason)", redirect,
            item="application_id"),
        "/web/certificates": _page("証明書: request and collect certificates"),
        "/web/certificates/request": _post("Request a certificate (its fee becomes a payment order)", redirect),
        "/web/certificates/{issuance_id}/collect": _post("Issue a paid certificate into the inbox", redirect,
                                                         item="issuance_id"),
        "/web/certificates/{issuance_id}/pdf": _page(
            "The signed PDF", item="issuance_id",
            content={"application/pdf": {"schema": {"type": "string", "format": "binary"}}}),
        "/web/consents": _page("連携サービス: consents to relying parties"),
        "/web/consents/{consent_id}/withdraw": _post("Withdraw a consent (its tokens are revoked at once)", redirect,
                                                     item="consent_id"),
        "/web/staff": _page("The municipality's inbox (staff)"),
        "/web/staff/login": {**_page("Staff sign-in"), **_post("Staff sign-in with a staff token", redirect)},
        "/web/staff/logout": _post("Staff sign-out", redirect),
        "/web/staff/applications/{reception_number}": _page("One application of the inbox (on the applicant's "
                                                             "record)", item="reception_number"),
        "/web/staff/applications/{reception_number}/move": _post(
            "Move it: 審査中, 補正依頼, 完了 or 却下", redirect, item="reception_number"),
    }
    return document("Mynaportal web portal",
                    "Server-rendered pages for a PC, a phone and a TV. Pages answer HTML; the sign-in scripts' "
                    "endpoints answer JSON.", paths)
