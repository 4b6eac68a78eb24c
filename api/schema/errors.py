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


class PublicError(Exception):
    """An expected failure whose message is safe to show the client."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


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
        return _with_code(error, original.code.value, str(original))
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


def _with_code(error: GraphQLError, code: str, message: str, *, mask_cause: bool = False) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None if mask_cause else error.original_error,
        extensions={**(error.extensions or {}), "code": str(code)},
    )
