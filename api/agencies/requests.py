"""An agency's system calling a REST API: its API key as a bearer token, its pinned TLS client certificate when the
portal requires one, and the scope the route needs. One function, so every agency API refuses alike."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from api.agencies.client_certificates import check_client_certificate
from api.agencies.credentials import AgencyPrincipal, authenticate_agency
from api.platform.auth import TokenRejected
from api.platform.client_tls import peer_certificate
from api.platform.errors import ErrorCode, PortalError


async def agency_of_request(request: Request, session_factory: async_sessionmaker[AsyncSession], scope: str, *,
                            certificates_required: bool) -> AgencyPrincipal:
    """The calling agency; UNAUTHENTICATED without a valid key, FORBIDDEN without ``scope``."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise PortalError(ErrorCode.UNAUTHENTICATED, "Send the agency's API key as a bearer token.")
    try:
        principal = await authenticate_agency(session_factory, key.strip())
    except TokenRejected as error:
        raise PortalError(ErrorCode.UNAUTHENTICATED, "The API key is not valid.") from error
    await check_client_certificate(session_factory, principal.agency_id, peer_certificate(request.scope),
                                   required=certificates_required)
    if scope not in principal.scopes:
        raise PortalError(ErrorCode.FORBIDDEN, f"This API key lacks the scope {scope}.")
    return principal
