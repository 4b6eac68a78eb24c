"""The GraphQL error policy: every error carries a stable ``extensions.code``; internal errors are masked.

Domains raise api.platform.errors.PortalError; ``classify`` renders it (and graphql-core's own errors) once.
Clients branch on the code, never on the message. Messages that echo input values are rewritten,
since an input may be personal data.
"""

from __future__ import annotations

import logging
import re

from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy.exc import DataError
from strawberry.relay.types import GlobalIDValueError

from api.platform.errors import ErrorCode, PoolTimeout, PortalError, service_unavailable

logger = logging.getLogger("api.graphql")


# Input mistakes the REST API names precisely reach GraphQL clients as BAD_USER_INPUT.
# The edge's refusals keep their precise code as ``extensions.reason``.
_GRAPHQL_CODE = {ErrorCode.AMOUNT_INVALID: ErrorCode.BAD_USER_INPUT,
                 ErrorCode.IDEMPOTENCY_KEY_INVALID: ErrorCode.BAD_USER_INPUT,
                 ErrorCode.TEXT_INVALID: ErrorCode.BAD_USER_INPUT,
                 ErrorCode.VALUE_OUT_OF_RANGE: ErrorCode.BAD_USER_INPUT}
_WITH_REASON = frozenset({ErrorCode.TEXT_INVALID, ErrorCode.VALUE_OUT_OF_RANGE})


def coded_error(code: ErrorCode, message: str) -> GraphQLError:
    """A protocol-level error raised outside resolvers (extensions), already carrying its code."""
    return GraphQLError(message, extensions={"code": code.value})


MASKED_MESSAGE = "Unexpected error."
DATA_REFUSED = "A value is too long or out of range."
_VARIABLE_MESSAGE = re.compile(r"^Variable '\$(\w+)'")


def is_bad_input(error: GraphQLError) -> bool:
    """The client sent a value the schema cannot take (a variable, a global id): its mistake, not ours, and
    the value may be personal data, so it is answered as BAD_USER_INPUT and never logged."""
    return isinstance(error.original_error, GlobalIDValueError) or (
        error.path is None and _VARIABLE_MESSAGE.match(error.message) is not None)


def _code_of(error: GraphQLError) -> str | None:
    return (error.extensions or {}).get("code")


def portal_cause(error: GraphQLError) -> PortalError | None:
    """The PortalError behind the error, if any (graphql-core wraps a scalar's error once more for a variable)."""
    cause = error.original_error
    while isinstance(cause, GraphQLError) and cause.original_error is not None:
        cause = cause.original_error
    return cause if isinstance(cause, PortalError) else None


def classify(error: GraphQLError) -> GraphQLError:
    """Return the error as the client should see it: with a code, masked when internal."""
    original = error.original_error
    cause = portal_cause(error)
    if cause is not None:
        extra = {**cause.extensions, "reason": cause.code.value} if cause.code in _WITH_REASON else cause.extensions
        return _with_code(error, _GRAPHQL_CODE.get(cause.code, cause.code), cause.message, extra=extra,
                          mask_cause=cause is not original)
    if _code_of(error) is not None and original is None:
        return error
    if isinstance(error, GraphQLSyntaxError):
        if "tokens" in error.message and "Parsing aborted" in error.message:
            return _with_code(error, ErrorCode.TOO_MANY_TOKENS, error.message)
        if "code points" in error.message and "Parsing aborted" in error.message:
            return _with_code(error, ErrorCode.DOCUMENT_TOO_LONG, error.message)
        return _with_code(error, ErrorCode.GRAPHQL_PARSE_FAILED, error.message)
    if isinstance(original, GlobalIDValueError):
        return _with_code(error, ErrorCode.BAD_USER_INPUT, "The id is not a valid global id.", mask_cause=True)
    if error.path is None and (match := _VARIABLE_MESSAGE.match(error.message)):
        # Variable coercion: graphql-core's message would echo the value, which may be personal data.
        return _with_code(error, ErrorCode.BAD_USER_INPUT, f"Variable '${match.group(1)}' got an invalid value.",
                          mask_cause=True)
    if original is None and error.path is None:
        return _with_code(error, ErrorCode.GRAPHQL_VALIDATION_FAILED, error.message)
    if isinstance(original, PoolTimeout):
        # No database connection came free in time: the client retries later (the view adds Retry-After).
        busy = service_unavailable()
        return _with_code(error, busy.code, busy.message, extra=busy.extensions, mask_cause=True)
    if isinstance(original, DataError):
        # A value the edge let through but the database refuses (too long for its column, out of its range):
        # the client's input, not the server, is at fault. Still logged as unexpected (PortalSchema.process_errors).
        return _with_code(error, ErrorCode.BAD_USER_INPUT, DATA_REFUSED, mask_cause=True)
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
