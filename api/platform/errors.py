"""The one error type of the portal: a stable code, a message safe to show, an HTTP status from the code.

Domains raise ``PortalError`` for expected refusals; each transport renders it once: GraphQL as
``extensions.code`` (api.schema.errors), REST as an RFC 9457 problem (``problem_response``). Messages never
carry personal data. The corporate-number API keeps its own NTA-compatible error format.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://mynaportal.example/problems/"


class ErrorCode(enum.StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    RATE_LIMITED = "RATE_LIMITED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    INTERNAL = "INTERNAL"
    # the edge (api.platform.limits, api.platform.text): refused before any handler runs
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TEXT_INVALID = "TEXT_INVALID"
    VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
    OVERLOADED = "OVERLOADED"  # the worker is at its concurrency limit (api.platform.shedding): retry after a while
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"  # no database connection came free in time: retry after a while
    # GraphQL protocol (the gateway and the executor)
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    DOCUMENT_TOO_LONG = "DOCUMENT_TOO_LONG"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_REQUIRED = "PERSISTED_QUERY_REQUIRED"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    # identity: card/phone login, tokens, phone credentials, TV sign-in
    CHALLENGE_UNKNOWN = "CHALLENGE_UNKNOWN"
    CHALLENGE_USED = "CHALLENGE_USED"
    CHALLENGE_EXPIRED = "CHALLENGE_EXPIRED"
    CHALLENGE_CLIENT_MISMATCH = "CHALLENGE_CLIENT_MISMATCH"
    CERTIFICATE_INVALID = "CERTIFICATE_INVALID"
    CERTIFICATE_UNTRUSTED = "CERTIFICATE_UNTRUSTED"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"
    CERTIFICATE_USAGE_INVALID = "CERTIFICATE_USAGE_INVALID"
    CERTIFICATE_UNKNOWN = "CERTIFICATE_UNKNOWN"
    REVOCATION_UNAVAILABLE = "REVOCATION_UNAVAILABLE"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    REFRESH_TOKEN_INVALID = "REFRESH_TOKEN_INVALID"  # noqa: S105 (an error code)
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"  # noqa: S105 (an error code)
    CARD_LOGIN_UNAVAILABLE = "CARD_LOGIN_UNAVAILABLE"
    CSR_INVALID = "CSR_INVALID"
    CSR_KEY_SHARED = "CSR_KEY_SHARED"  # the phone's two certificates need two keys
    CARD_NOT_FOUND = "CARD_NOT_FOUND"
    DEVICE_CODE_UNKNOWN = "DEVICE_CODE_UNKNOWN"
    DEVICE_CODE_EXPIRED = "DEVICE_CODE_EXPIRED"
    DEVICE_CODE_DECIDED = "DEVICE_CODE_DECIDED"
    # A sign-in that would get a person's full session: the app must confirm the screen is in front of them.
    DEVICE_CONFIRMATION_REQUIRED = "DEVICE_CONFIRMATION_REQUIRED"
    IDENTITY_NOT_VERIFIED = "IDENTITY_NOT_VERIFIED"  # an operator's identity check did not match the record
    # people
    PERSON_ALREADY_REGISTERED = "PERSON_ALREADY_REGISTERED"
    # keys (operators' commands)
    KEY_GENERATION_UNKNOWN = "KEY_GENERATION_UNKNOWN"
    KEY_GENERATION_IN_USE = "KEY_GENERATION_IN_USE"
    # proxies (代理人)
    PROXY_SCOPE_INVALID = "PROXY_SCOPE_INVALID"
    PROXY_SELF = "PROXY_SELF"
    PROXY_VALIDITY_INVALID = "PROXY_VALIDITY_INVALID"
    PROXY_CANNOT_GRANT = "PROXY_CANNOT_GRANT"
    NOT_AUTHORIZED_FOR_PERSON = "NOT_AUTHORIZED_FOR_PERSON"
    # 自己情報: a correction request is answered once
    CORRECTION_ALREADY_ANSWERED = "CORRECTION_ALREADY_ANSWERED"
    # payments (the REST API names input mistakes; GraphQL shows them as BAD_USER_INPUT)
    AMOUNT_INVALID = "AMOUNT_INVALID"
    IDEMPOTENCY_KEY_INVALID = "IDEMPOTENCY_KEY_INVALID"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    ORDER_REFERENCE_TAKEN = "ORDER_REFERENCE_TAKEN"
    ORDER_NOT_PAYABLE = "ORDER_NOT_PAYABLE"
    ORDER_NOT_CANCELLABLE = "ORDER_NOT_CANCELLABLE"
    PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"
    PAYMENT_NOT_CANCELLABLE = "PAYMENT_NOT_CANCELLABLE"
    REFUND_NOT_AVAILABLE = "REFUND_NOT_AVAILABLE"
    REFUND_EXCEEDS_AVAILABLE = "REFUND_EXCEEDS_AVAILABLE"
    REFUND_AMOUNT_AVAILABLE_MISMATCH = "REFUND_AMOUNT_AVAILABLE_MISMATCH"
    GATEWAY_UNAVAILABLE = "GATEWAY_UNAVAILABLE"
    # notices
    NOTICE_REFERENCE_REUSED = "NOTICE_REFERENCE_REUSED"
    # the information-exchange network (every one of these refusals is itself recorded)
    EXCHANGE_NOT_PERMITTED = "EXCHANGE_NOT_PERMITTED"  # outside the legal table (別表第二)
    EXCHANGE_PERSON_UNKNOWN = "EXCHANGE_PERSON_UNKNOWN"  # the requester's code names nobody
    EXCHANGE_PROVIDER_UNKNOWN = "EXCHANGE_PROVIDER_UNKNOWN"
    EXCHANGE_PROVIDER_UNAVAILABLE = "EXCHANGE_PROVIDER_UNAVAILABLE"  # a live provider did not answer well
    # online applications (ぴったりサービス) and the 公金受取口座
    PROCEDURE_UNKNOWN = "PROCEDURE_UNKNOWN"
    PROCEDURE_NOT_OFFERED = "PROCEDURE_NOT_OFFERED"  # the municipality does not publish it
    PROCEDURE_NOT_OWNED = "PROCEDURE_NOT_OWNED"  # another municipality's own procedure (独自の手続)
    APPLICATION_SUBJECT_INVALID = "APPLICATION_SUBJECT_INVALID"  # a child's procedure for oneself, or the reverse
    APPLICATION_NOT_EDITABLE = "APPLICATION_NOT_EDITABLE"  # sent and not sent back for correction
    APPLICATION_STALE = "APPLICATION_STALE"  # saved meanwhile on another device
    APPLICATION_ALREADY_SUBMITTED = "APPLICATION_ALREADY_SUBMITTED"
    APPLICATION_ALREADY_DECIDED = "APPLICATION_ALREADY_DECIDED"
    APPLICATION_TRANSITION_INVALID = "APPLICATION_TRANSITION_INVALID"
    APPLICATION_WITHDRAWN = "APPLICATION_WITHDRAWN"  # the applicant withdrew it (取下げ): nothing more happens to it
    FORM_INVALID = "FORM_INVALID"  # does not match its schema
    FORM_VERSION_MISMATCH = "FORM_VERSION_MISMATCH"  # typed in another form version than the one published
    ATTACHMENT_TOO_LARGE = "ATTACHMENT_TOO_LARGE"
    ATTACHMENT_TYPE_INVALID = "ATTACHMENT_TYPE_INVALID"  # the content is not a type the procedure takes
    ATTACHMENT_MISSING = "ATTACHMENT_MISSING"
    SIGNATURE_REQUIRED = "SIGNATURE_REQUIRED"
    SIGNER_NOT_APPLICANT = "SIGNER_NOT_APPLICANT"  # the certificate's 基本4情報 name someone else
    BANK_ACCOUNT_INVALID = "BANK_ACCOUNT_INVALID"
    BANK_ACCOUNT_HOLDER_MISMATCH = "BANK_ACCOUNT_HOLDER_MISMATCH"  # the holder kana is not the person's name
    BANK_ACCOUNT_NOT_REGISTERED = "BANK_ACCOUNT_NOT_REGISTERED"
    # the OpenID Provider (もっとつながる): the app's approval of a login at a relying party
    OIDC_LOGIN_UNKNOWN = "OIDC_LOGIN_UNKNOWN"
    OIDC_LOGIN_DECIDED = "OIDC_LOGIN_DECIDED"
    OIDC_SIGN_USED = "OIDC_SIGN_USED"  # a signing transaction is signed once
    OIDC_SIGNER_NOT_PERSON = "OIDC_SIGNER_NOT_PERSON"  # a signature certificate the portal issued someone else
    OIDC_SIGN_REQUIRED = "OIDC_SIGN_REQUIRED"  # a login tied to a signing transaction is approved after signing it
    OIDC_CLIENT_UNAVAILABLE = "OIDC_CLIENT_UNAVAILABLE"  # suspended or not yet approved
    # certificates (住民票 ...) and the kiosks of コンビニ交付
    GLYPH_MISSING = "GLYPH_MISSING"  # a character no font here can print: the certificate is not issued
    CERTIFICATE_NOT_AVAILABLE = "CERTIFICATE_NOT_AVAILABLE"  # no register entry for it at this municipality
    CERTIFICATE_NOT_PAID = "CERTIFICATE_NOT_PAID"
    DOCUMENT_ALREADY_HANDED = "DOCUMENT_ALREADY_HANDED"  # a kiosk or a delivery service receives a document once
    INDIVIDUAL_NUMBER_NOT_DELIVERABLE = "INDIVIDUAL_NUMBER_NOT_DELIVERABLE"  # never sent to a delivery service
    DELIVERY_SERVICE_NOT_LINKED = "DELIVERY_SERVICE_NOT_LINKED"  # the chosen service's link was removed
    FETCH_LINK_EXPIRED = "FETCH_LINK_EXPIRED"  # a delivery service's one-time link, past its end
    FETCH_LINK_STILL_VALID = "FETCH_LINK_STILL_VALID"  # a new link is made only once the last one ran out
    KIOSK_SESSION_ENDED = "KIOSK_SESSION_ENDED"
    ISSUING_UNAVAILABLE = "ISSUING_UNAVAILABLE"  # no signing key for the municipality on this server
    # agency API over mutual TLS (api.agencies.client_certificates)
    CLIENT_CERTIFICATE_REQUIRED = "CLIENT_CERTIFICATE_REQUIRED"
    CLIENT_CERTIFICATE_MISMATCH = "CLIENT_CERTIFICATE_MISMATCH"  # not a live certificate of the key's agency


# The HTTP status of each code (REST answers); a code not listed is a client mistake (400).
_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.SIGNATURE_INVALID: 401,
    ErrorCode.CLIENT_CERTIFICATE_REQUIRED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_AUTHORIZED_FOR_PERSON: 403,
    ErrorCode.PROXY_CANNOT_GRANT: 403,
    ErrorCode.EXCHANGE_NOT_PERMITTED: 403,
    ErrorCode.CLIENT_CERTIFICATE_MISMATCH: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.PROCEDURE_UNKNOWN: 404,
    ErrorCode.PROCEDURE_NOT_OFFERED: 404,
    ErrorCode.PROCEDURE_NOT_OWNED: 403,
    ErrorCode.BANK_ACCOUNT_NOT_REGISTERED: 404,
    ErrorCode.SIGNER_NOT_APPLICANT: 403,
    ErrorCode.OIDC_SIGNER_NOT_PERSON: 403,
    ErrorCode.OIDC_SIGN_USED: 409,
    ErrorCode.OIDC_SIGN_REQUIRED: 409,
    ErrorCode.APPLICATION_NOT_EDITABLE: 409,
    ErrorCode.APPLICATION_STALE: 409,
    ErrorCode.APPLICATION_ALREADY_SUBMITTED: 409,
    ErrorCode.APPLICATION_ALREADY_DECIDED: 409,
    ErrorCode.APPLICATION_TRANSITION_INVALID: 409,
    ErrorCode.APPLICATION_WITHDRAWN: 409,
    ErrorCode.FORM_VERSION_MISMATCH: 409,
    ErrorCode.ATTACHMENT_TOO_LARGE: 413,
    ErrorCode.ATTACHMENT_TYPE_INVALID: 415,
    ErrorCode.EXCHANGE_PERSON_UNKNOWN: 404,
    ErrorCode.EXCHANGE_PROVIDER_UNKNOWN: 404,
    ErrorCode.CARD_NOT_FOUND: 404,
    ErrorCode.CERTIFICATE_UNKNOWN: 404,
    ErrorCode.CHALLENGE_UNKNOWN: 404,
    ErrorCode.DEVICE_CODE_UNKNOWN: 404,
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: 404,
    ErrorCode.PERSON_ALREADY_REGISTERED: 409,
    ErrorCode.CHALLENGE_USED: 409,
    ErrorCode.DEVICE_CODE_DECIDED: 409,
    ErrorCode.DEVICE_CONFIRMATION_REQUIRED: 409,
    ErrorCode.OIDC_LOGIN_DECIDED: 409,
    ErrorCode.OIDC_LOGIN_UNKNOWN: 404,
    ErrorCode.OIDC_CLIENT_UNAVAILABLE: 403,
    ErrorCode.REFRESH_TOKEN_REUSED: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 409,
    ErrorCode.ORDER_REFERENCE_TAKEN: 409,
    ErrorCode.ORDER_NOT_PAYABLE: 409,
    ErrorCode.ORDER_NOT_CANCELLABLE: 409,
    ErrorCode.PAYMENT_IN_PROGRESS: 409,
    ErrorCode.PAYMENT_NOT_CANCELLABLE: 409,
    ErrorCode.REFUND_NOT_AVAILABLE: 409,
    ErrorCode.REFUND_EXCEEDS_AVAILABLE: 409,
    ErrorCode.REFUND_AMOUNT_AVAILABLE_MISMATCH: 409,
    ErrorCode.NOTICE_REFERENCE_REUSED: 409,
    ErrorCode.CORRECTION_ALREADY_ANSWERED: 409,
    ErrorCode.CERTIFICATE_NOT_PAID: 409,
    ErrorCode.DOCUMENT_ALREADY_HANDED: 409,
    ErrorCode.INDIVIDUAL_NUMBER_NOT_DELIVERABLE: 422,
    ErrorCode.DELIVERY_SERVICE_NOT_LINKED: 409,
    ErrorCode.FETCH_LINK_EXPIRED: 410,
    ErrorCode.FETCH_LINK_STILL_VALID: 409,
    ErrorCode.KIOSK_SESSION_ENDED: 410,
    ErrorCode.GLYPH_MISSING: 422,
    ErrorCode.CERTIFICATE_NOT_AVAILABLE: 404,
    ErrorCode.ISSUING_UNAVAILABLE: 503,
    ErrorCode.CHALLENGE_EXPIRED: 410,
    ErrorCode.DEVICE_CODE_EXPIRED: 410,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.OVERLOADED: 503,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.CARD_LOGIN_UNAVAILABLE: 503,
    ErrorCode.REVOCATION_UNAVAILABLE: 503,
    ErrorCode.GATEWAY_UNAVAILABLE: 503,
    ErrorCode.EXCHANGE_PROVIDER_UNAVAILABLE: 503,
}


def status_of(code: ErrorCode) -> int:
    return _STATUS.get(code, 400)


class PortalError(Exception):
    """An expected refusal whose message is safe to show the client; clients branch on ``code``.

    ``extensions`` adds members to the answer: ``retryAfter`` for RATE_LIMITED, ``field`` or ``header``
    naming the input at fault.
    """

    def __init__(self, code: ErrorCode | str, message: str, *, extensions: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.extensions = extensions or {}

    @property
    def status(self) -> int:
        return status_of(self.code)


def problem_body(error: PortalError) -> dict[str, Any]:
    code = error.code.value
    return {"type": PROBLEM_BASE + code.lower().replace("_", "-"), "title": code.replace("_", " ").capitalize(),
            "status": error.status, "detail": error.message, "code": code, **error.extensions}


def problem_response(error: PortalError) -> JSONResponse:
    """The RFC 9457 problem every REST module answers with (the corporate API has its own NTA format); a refusal
    to retry later (``retryAfter``) says when in Retry-After too, the header clients and proxies read."""
    retry_after = error.extensions.get("retryAfter")
    headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None
    return JSONResponse(problem_body(error), status_code=error.status, media_type=PROBLEM_MEDIA_TYPE,
                        headers=headers)


# A pool timeout means every connection of this worker's pool was busy for the pool's whole timeout: the database
# or the worker is saturated, not broken. The client may retry soon (the pool drains in well under a second).
POOL_RETRY_AFTER_SECONDS = 1


def service_unavailable() -> PortalError:
    """The refusal of a request that waited too long for a database connection (SQLAlchemy's pool timeout)."""
    return PortalError(ErrorCode.SERVICE_UNAVAILABLE, "The portal is busy; retry after the time in Retry-After.",
                       extensions={"retryAfter": POOL_RETRY_AFTER_SECONDS})


def log_pool_timeout(where: str) -> None:
    # A warning without a traceback: under load there may be many, and none is a bug.
    logging.getLogger("api.db").warning("no database connection came free in time (%s)", where)


def answering_problems(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a route handler so that a PortalError it raises is answered as a problem."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except PortalError as error:
            return problem_response(error)
        except PoolTimeout:
            log_pool_timeout(request.url.path)
            return problem_response(service_unavailable())
        except DataError:
            # A value the handler let through but the database refuses: the client's input is at fault.
            logging.getLogger("api.rest").exception("the database refused a value of %s", request.url.path)
            return problem_response(PortalError(ErrorCode.BAD_USER_INPUT, "A value is too long or out of range."))

    return run


async def routing_problem(_: Request, error: Exception) -> Response:
    """The router's own refusals (no route: 404, a route without this method: 405) as problems, not plain text."""
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        response = problem_response(PortalError(ErrorCode.METHOD_NOT_ALLOWED, "This path does not take this method."))
        response.headers.update(error.headers or {})  # Allow
        return response
    return problem_response(PortalError(ErrorCode.NOT_FOUND, "Nothing is at this path."))


async def unavailable_problem(request: Request, _: Exception) -> Response:
    """A pool timeout out of a route that answers its own errors otherwise (the app's handler for it)."""
    log_pool_timeout(request.url.path)
    return problem_response(service_unavailable())


async def internal_problem(_: Request, __: Exception) -> Response:
    """An unexpected exception (a bug): a problem with code INTERNAL and nothing of the exception, which the
    server logs with the request id."""
    return problem_response(PortalError(ErrorCode.INTERNAL, "Unexpected error."))
