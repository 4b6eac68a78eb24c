"""GraphQL renders a PortalError once: its code in extensions (input mistakes the REST API names precisely as
BAD_USER_INPUT), its message, and its extensions."""

from __future__ import annotations

from graphql import GraphQLError

from api.platform.errors import ErrorCode, PortalError
from api.schema.errors import classify


def _located(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), path=["field"], original_error=error)


def test_a_refusal_keeps_its_code_message_and_extensions() -> None:
    shown = classify(_located(PortalError(ErrorCode.RATE_LIMITED, "Too many login attempts; retry in 7 s.",
                                          extensions={"retryAfter": 7})))
    assert (shown.message, shown.extensions) == ("Too many login attempts; retry in 7 s.",
                                                 {"retryAfter": 7, "code": "RATE_LIMITED"})


def test_named_input_mistakes_are_bad_user_input() -> None:
    shown = classify(_located(PortalError("AMOUNT_INVALID", "An amount is a whole number of yen.")))
    assert (shown.message, shown.extensions) == ("An amount is a whole number of yen.", {"code": "BAD_USER_INPUT"})


def test_anything_else_is_masked() -> None:
    shown = classify(_located(RuntimeError("secret detail")))
    assert (shown.message, shown.extensions, shown.original_error) == ("Unexpected error.", {"code": "INTERNAL"},
                                                                       None)
