"""GraphQL renders a PortalError once: its code in extensions (input mistakes the REST API names precisely as
BAD_USER_INPUT), its message, and its extensions."""

from __future__ import annotations

import base64
import logging

import pytest
from graphql import GraphQLError
from sqlalchemy.exc import DataError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.platform.errors import ErrorCode, PortalError
from api.schema.errors import classify
from tests.api.conftest import Portal


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


def test_a_value_the_database_refuses_is_bad_input_not_internal() -> None:
    refused = DataError("INSERT ...", {"p": "secret"}, Exception('value too long for type character varying(100)'))
    shown = classify(_located(refused))
    assert (shown.message, shown.extensions, shown.original_error) == (
        "A value is too long or out of range.", {"code": "BAD_USER_INPUT"}, None)


def test_a_pool_timeout_is_service_unavailable_not_internal() -> None:
    shown = classify(_located(PoolTimeout("QueuePool limit of size 1 overflow 0 reached")))
    assert (shown.message, shown.extensions, shown.original_error) == (
        "The portal is busy; retry after the time in Retry-After.",
        {"code": "SERVICE_UNAVAILABLE", "retryAfter": 1}, None)


def test_an_edge_refusal_behind_a_variable_keeps_its_reason() -> None:
    # graphql-core wraps a scalar's error once more for a variable; the message would echo the value.
    inner = GraphQLError("Expected value of type 'Date' ... found: '9999-12-31'",
                         original_error=PortalError(ErrorCode.VALUE_OUT_OF_RANGE, "a Date must be between ...",
                                                    extensions={"field": "a Date"}))
    shown = classify(GraphQLError("Variable '$day' has invalid value: ... '9999-12-31'", original_error=inner))
    assert (shown.message, shown.extensions, shown.original_error) == (
        "a Date must be between ...", {"field": "a Date", "reason": "VALUE_OUT_OF_RANGE", "code": "BAD_USER_INPUT"},
        None)


@pytest.mark.parametrize(("document", "variables"), [
    ("query($d: Date) { __typename }", {"d": "%20100000000021"}),
    ("query($d: Date) { __typename }", {"d": "1000-0000-0021"}),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": "%20100000000021"}),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": base64.b64encode(b"Notice%20100000000021").decode()}),
])
async def test_bad_input_is_answered_and_not_logged(
    portal: Portal, caplog: pytest.LogCaptureFixture, document: str, variables: dict[str, str]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="api.graphql"):
        result = await portal.query(document, variables, token=portal.father_token)
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]
    assert [r for r in caplog.records if r.name == "api.graphql"] == []
