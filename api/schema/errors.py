"""The error policy: every GraphQL error carries a stable ``extensions.code``; internal errors are masked.

Clients branch on the code, never on the message. Messages that echo input values are rewritten,
since an input may be personal data.
"""

from __future__ import annotations

import enum
import logging
import re

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.relay.types import GlobalIDValueError

logger = logging.getLogger("api.graphql")


class ErrorCode(enum.StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_REQUIRED = "PERSISTED_QUERY_REQUIRED"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    # identity: card/phone login, tokens, phone credentials, TV sign-in (api.identity.errors)
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
    CARD_NOT_FOUND = "CARD_NOT_FOUND"
    DEVICE_CODE_UNKNOWN = "DEVICE_CODE_UNKNOWN"
    DEVICE_CODE_EXPIRED = "DEVICE_CODE_EXPIRED"
    DEVICE_CODE_DECIDED = "DEVICE_CODE_DECIDED"
    # proxies (代理人)
    PROXY_SCOPE_INVALID = "PROXY_SCOPE_INVALID"
    PROXY_SELF = "PROXY_SELF"
    PROXY_VALIDITY_INVALID = "PROXY_VALIDITY_INVALID"
    PROXY_CANNOT_GRANT = "PROXY_CANNOT_GRANT"
    NOT_AUTHORIZED_FOR_PERSON = "NOT_AUTHORIZED_FOR_PERSON"
    # payments (payments.errors)
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


class PublicError(Exception):
    """An expected failure whose message is safe to show the client."""

    def __init__(self, code: ErrorCode, message: str, *, extensions: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.extensions = extensions or {}  # e.g. retryAfter for RATE_LIMITED


def coded_error(code: ErrorCode, message: str) -> GraphQLError:
    """A protocol-level error raised outside resolvers (extensions), already carrying its code."""
    return GraphQLError(message, extensions={"code": code.value})


MASKED_MESSAGE = "Unexpected error."
_VARIABLE_MESSAGE = re.compile(r"^Variable '\$(\w+)'")


def _code_of(error: GraphQLError) -> str | None:
    return (error.extensions or {}).get("code")


def classify(error: GraphQLError) -> GraphQLError:
    """Return the error as the client should see it: with a code, masked when internal."""
    original = error.original_error
    if isinstance(original, PublicError):
        return _with_code(error, original.code.value, str(original), extra=original.extensions)
    if _code_of(error) is not None and original is None:
        return error
    if isinstance(error, GraphQLSyntaxError):
        if "tokens" in error.message and "Parsing aborted" in error.message:
            return _with_code(error, ErrorCode.TOO_MANY_TOKENS, error.message)
        return _with_code(error, ErrorCode.GRAPHQL_PARSE_FAILED, error.message)
    if isinstance(original, GlobalIDValueError):
        return _with_code(error, ErrorCode.BAD_USER_INPUT, "The id is not a valid global id.", mask_cause=True)
    if error.path is None and (match := _VARIABLE_MESSAGE.match(error.message)):
        # Variable coercion: graphql-core's message would echo the value, which may be personal data.
        return _with_code(error, ErrorCode.BAD_USER_INPUT, f"Variable '${match.group(1)}' got an invalid value.",
                          mask_cause=True)
    if original is None and error.path is None:
        return _with_code(error, ErrorCode.GRAPHQL_VALIDATION_FAILED, error.message)
    return _with_code(error, ErrorCode.INTERNAL, MASKED_MESSAGE, mask_cause=True)


def _with_code(error: GraphQLError, code: str, message: str, *, mask_cause: bool = False,
               extra: dict[str, object] | None = None) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None if mask_cause else error.original_error,
        extensions={**(error.extensions or {}), **(extra or {}), "code": str(code)},
    )
