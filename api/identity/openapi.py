"""The OpenAPI 3.1 document of the identity domain's HTTP endpoints (api.identity.http): the sandbox CA's
OCSP responder, CRLs and roots, and the RFC 8628 device flow (TV sign-in)."""

from __future__ import annotations

from typing import Any

from api.platform.openapi import document, json_answer, path_param, problem, query_param

_OAUTH_ERROR = {"description": "RFC 6749 error (invalid_request, invalid_grant, authorization_pending, ...).",
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["error", "error_description"],
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}}}}
_OCSP = {"description": "An OCSP response (also for a malformed request: status malformedRequest).",
         "content": {"application/ocsp-response": {"schema": {"type": "string", "contentMediaType":
                                                              "application/ocsp-response"}}}}
_NO_CA = problem("This server runs no sandbox CA, or no such CRL (NOT_FOUND).")


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


def openapi_document() -> dict[str, Any]:
    paths = {
        "/pki/ocsp": {"post": {
            "summary": "OCSP (RFC 6960) by POST",
            "requestBody": {"required": True, "content": {"application/ocsp-request": {"schema": {
                "type": "string", "contentMediaType": "application/ocsp-request"}}}},
            "responses": {"200": _OCSP, "404": _NO_CA}}},
        "/pki/ocsp/{encoded}": {"get": {
            "summary": "OCSP (RFC 6960) by GET: the DER request, base64 then URL-encoded",
            "parameters": [path_param("encoded", {"type": "string"}, "base64 of the DER OCSP request.")],
            "responses": {"200": _OCSP, "404": _NO_CA}}},
        "/pki/crl/{issuer}.crl": {"get": {
            "summary": "The CRL of a sandbox authority",
            "parameters": [path_param("issuer", {"type": "string"}, "The authority's name (e.g. auth, sign).")],
            "responses": {"200": {"description": "DER CRL.", "content": {"application/pkix-crl": {
                "schema": {"type": "string"}}}}, "404": _NO_CA}}},
        "/pki/roots.pem": {"get": {
            "summary": "The trust anchors the portal accepts card certificates from",
            "responses": {"200": {"description": "PEM certificates.", "content": {"application/x-pem-file": {
                "schema": {"type": "string"}}}}}}},
        "/oauth/device_authorization": {"post": {
            "summary": "RFC 8628 device authorization: a TV asks for a user code",
            "requestBody": _form({"client_id": {"type": "string", "minLength": 1, "maxLength": 100},
                                  "scope": {"type": "string"}}, ["client_id"]),
            "responses": {"200": json_answer("Device code, user code, verification URIs, QR code."),
                          "400": _OAUTH_ERROR}}},
        "/oauth/token": {"post": {
            "summary": "RFC 8628 device-code grant and refresh-token grant",
            "requestBody": _form({"grant_type": {"type": "string", "enum": [
                "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]},
                "device_code": {"type": "string"}, "client_id": {"type": "string"},
                "refresh_token": {"type": "string"}}, ["grant_type"]),
            "responses": {"200": json_answer("Access and refresh tokens."), "400": _OAUTH_ERROR}}},
        "/device": {"get": {
            "summary": "The verification page a TV's QR code opens",
            "parameters": [query_param("user_code", {"type": "string"}, "The code shown on the TV.")],
            "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    }
    return document("Identity: PKI and TV sign-in", "The sandbox JPKI CA's OCSP responder and CRLs (RFC 9457 "
                    "problems on errors) and the RFC 8628 device flow (RFC 6749 JSON errors).", paths)
