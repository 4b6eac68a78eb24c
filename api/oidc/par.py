"""Pushed authorization requests (RFC 9126) as a small Authlib extension (Authlib 1.9 has no server side for it).

The client posts its authorization request to the PAR endpoint, authenticated with ``private_key_jwt``; the
parameters are validated as the authorization endpoint would, stored, and named by a one-time ``request_uri``
that lives a minute. The authorization endpoint then takes ``client_id`` and ``request_uri`` only: the extension
hooks Authlib's ``before_get_authorization_grant`` (as its RFC 9101 request objects do) and puts the pushed
parameters in place of the query. A client registered with ``require_pushed_authorization_requests`` cannot send a
plain authorization request.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc9101.errors import InvalidRequestUriError
from sqlalchemy import select, update

from api.oidc.models import OidcPushedRequest
from api.oidc.stored import PortalPayload, PortalRequest, current_session, digest
from api.platform.db import utcnow

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PUSHED_TTL = timedelta(seconds=60)  # RFC 9126 §2.2: short-lived; 5 to 600 seconds are usual
ENDPOINT = "pushed_authorization_request"
_CLIENT_AUTH_FIELDS = ("client_assertion", "client_assertion_type")


class PushedAuthorizationRequests:
    """Register with ``server.register_extension(PushedAuthorizationRequests)``."""

    def __init__(self, server: AuthorizationServer) -> None:
        self.server = server
        server.register_hook("before_get_authorization_grant", self.resolve)

    # -- the PAR endpoint ---------------------------------------------------------------------------------------
    def push(self, request: PortalRequest) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """POST /oidc/par: authenticate the client, validate its request, answer request_uri and expires_in."""
        no_store = [("cache-control", "no-store"), ("pragma", "no-cache")]
        try:
            client = self.server.authenticate_client(request, ["private_key_jwt"], ENDPOINT)
            form = request.payload.datalist
            if "request_uri" in form:
                raise InvalidRequestError("'request_uri' cannot be pushed (RFC 9126 section 2.1).")
            if "request" in form:
                raise InvalidRequestError("Request objects are not supported: push the parameters themselves.")
            named = form.get("client_id", [])
            if named and named != [client.get_client_id()]:
                raise InvalidRequestError("'client_id' is not the authenticated client.")
            parameters = {key: list(values) for key, values in form.items() if key not in _CLIENT_AUTH_FIELDS}
            parameters["client_id"] = [client.get_client_id()]
            # Validated exactly as the authorization endpoint will (redirect URI, PKCE, state, nonce, scope).
            check = PortalRequest("GET", request.uri, {}, parameters)
            check.pushing = True
            self.server.get_consent_grant(check, end_user=None)
        except OAuth2Error as error:
            body = dict(error.get_body())
            body.pop("state", None)
            return error.status_code, body, no_store
        request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        current_session.get().add(OidcPushedRequest(
            request_uri_hash=digest(request_uri), client_pk=client.row.id, parameters=parameters, created_at=now,
            expires_at=now + PUSHED_TTL))
        return 201, {"request_uri": request_uri, "expires_in": int(PUSHED_TTL.total_seconds())}, no_store

    # -- the authorization endpoint's side ----------------------------------------------------------------------
    def resolve(self, server: AuthorizationServer, request: OAuth2Request) -> None:
        if getattr(request, "pushing", False) or getattr(request, "validated_before", False):
            return  # the PAR endpoint's own check, or a login continued from parameters validated before
        data = request.payload.data
        if "request_uri" not in data:
            client_id = data.get("client_id")
            client = server.query_client(client_id) if client_id else None
            if client is not None and client.row.require_par:
                raise InvalidRequestError("This client must push its authorization requests (RFC 9126): send "
                                          "'client_id' and 'request_uri' only.")
            return
        client_id = data.get("client_id")
        client = server.query_client(client_id) if client_id else None
        if client is None:
            raise InvalidClientError(description="Missing or unknown 'client_id'.")
        if set(request.payload.datalist) - {"client_id", "request_uri"}:
            raise InvalidRequestError("With 'request_uri' send 'client_id' only (RFC 9126 section 4).")
        session = current_session.get()
        now = utcnow()
        row = session.scalar(select(OidcPushedRequest).where(
            OidcPushedRequest.request_uri_hash == digest(data["request_uri"]),
            OidcPushedRequest.client_pk == client.row.id))
        if row is None or row.expires_at <= now:
            raise InvalidRequestUriError(description="The request_uri is unknown, another client's, or expired.")
        # Once only, even when two browsers race with one request_uri.
        taken = session.execute(update(OidcPushedRequest).where(OidcPushedRequest.id == row.id,
                                                                OidcPushedRequest.used_at.is_(None))
                                .values(used_at=now)).rowcount
        if taken != 1:
            raise InvalidRequestUriError(description="The request_uri was used before.")
        request.payload = PortalPayload(row.parameters)
