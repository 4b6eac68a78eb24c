from __future__ import annotations

import base64
import hashlib
import json
import logging

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.demo import PEOPLE
from api.notices.models import Notice
from api.people.individual_number import IndividualNumberCipher
from api.people.models import Person
from api.platform.db import create_session_factory
from api.schema import documents
from tests.api.conftest import Portal, operation, running_portal
from tests.api.schema.test_notices import PUBLISH, agency_key, segment_input
from tests.conftest import make_settings


def codes(result: dict) -> list[str]:
    return [error["extensions"]["code"] for error in result["errors"]]


async def test_malformed_graphql(portal: Portal) -> None:
    result = await portal.query("{ viewer { id ")
    assert result == {"data": None, "errors": [{
        "message": "Syntax Error: Expected Name, found <EOF>.", "locations": [{"line": 1, "column": 15}],
        "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]}


async def test_unknown_field_is_a_validation_error(portal: Portal) -> None:
    result = await portal.query("{ viewer { individualNumber } }")
    assert codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
    # Suggestions help in development; they are off wherever introspection is (see below).
    assert result["errors"][0]["message"] == (
        "Cannot query field 'individualNumber' on type 'Person'. Did you mean 'maskedIndividualNumber'?")


DEEP = ("{ viewer { children { edges { node { children { edges { node { children { edges { node { "
        "children { edges { node { id } } } } } } } } } } } } } }")


async def test_over_deep_query(portal: Portal) -> None:
    result = await portal.query(DEEP, token=portal.father_token)
    assert result["data"] is None
    assert codes(result) == ["QUERY_TOO_DEEP"]
    assert result["errors"][0]["message"] == "'anonymous' exceeds maximum operation depth of 10"


async def test_alias_bomb(portal: Portal) -> None:
    bomb = "{ " + " ".join(f"a{i}: agencies {{ pageInfo {{ hasNextPage }} }}" for i in range(50)) + " }"
    result = await portal.query(bomb)
    assert result["data"] is None
    assert codes(result) == ["TOO_MANY_ALIASES"]
    assert result["errors"][0]["message"] == "50 aliases found. Allowed: 15"


async def test_token_flood(portal: Portal) -> None:
    flood = "{ " + "__typename " * 3000 + "}"
    result = await portal.query(flood)
    assert codes(result) == ["TOO_MANY_TOKENS"]


async def test_unknown_persisted_hash(portal: Portal) -> None:
    result = await portal.query(None, extensions={"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}})
    assert result == {"data": None, "errors": [{"message": "PersistedQueryNotFound",
                                                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}


async def test_a_persisted_operation_runs_by_hash(portal: Portal) -> None:
    digest = hashlib.sha256(operation("TvViewer").encode()).hexdigest()
    result = await portal.query(None, extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}},
                                token=portal.father_token)
    assert result["data"]["viewer"]["name"] == "山田 太郎"


async def test_a_hash_that_does_not_match_the_text_is_refused(portal: Portal) -> None:
    digest = hashlib.sha256(operation("TvViewer").encode()).hexdigest()
    result = await portal.query("{ agencies { edges { cursor } } }",
                                extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}})
    assert codes(result) == ["PERSISTED_QUERY_HASH_MISMATCH"]


async def test_production_accepts_only_persisted_operations(production_portal: Portal) -> None:
    refused = await production_portal.query("{ viewer { name } }", token=production_portal.father_token)
    assert refused == {"data": None, "errors": [{"message": "Only persisted operations are accepted by this server.",
                                                 "extensions": {"code": "PERSISTED_QUERY_REQUIRED"}}]}
    by_text = await production_portal.query(operation("TvViewer"), token=production_portal.father_token)
    assert by_text["data"]["viewer"]["name"] == "山田 太郎"
    digest = hashlib.sha256(operation("TvViewer").encode()).hexdigest()
    by_hash = await production_portal.query(None, extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}},
                                            token=production_portal.father_token)
    assert by_hash == by_text


async def test_production_does_not_serve_graphiql(production_portal: Portal) -> None:
    page = await production_portal.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.json() == {"errors": [{"message": "Not Found", "extensions": {"code": "BAD_USER_INPUT"}}]}


async def test_introspection_can_be_switched_off(
    engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str
) -> None:
    async with running_portal(engine, cipher, make_settings(database_url, introspection=False)) as portal:
        result = await portal.query("{ __schema { queryType { name } } }")
        typename = await portal.query("{ __typename }")
        typo = await portal.query("{ viewer { individualNumber } }")
    assert set(codes(result)) == {"INTROSPECTION_DISABLED"}
    assert result["errors"][0]["message"] == (
        "GraphQL introspection has been disabled, but the requested query contained the field '__schema'.")
    assert typo["errors"][0]["message"] == "Cannot query field 'individualNumber' on type 'Person'."
    assert typename == {"data": {"__typename": "Query"}}


async def test_development_serves_graphiql(portal: Portal) -> None:
    page = await portal.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_non_json_body_gets_a_json_error(portal: Portal) -> None:
    response = await portal.client.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Unable to parse request body as JSON",
                                           "extensions": {"code": "BAD_USER_INPUT"}}]}


async def test_variable_errors_do_not_echo_the_value(portal: Portal) -> None:
    number = PEOPLE[0].individual_number
    result = await portal.query("query($first: Int) { agencies(first: $first) { edges { cursor } } }",
                                {"first": number})
    assert result == {"data": None, "errors": [{
        "message": "Variable '$first' got an invalid value.", "locations": [{"line": 1, "column": 7}],
        "extensions": {"code": "BAD_USER_INPUT"}}]}


async def test_internal_errors_are_masked_and_logged_without_the_number(
    portal: Portal, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    # A corrupted ciphertext makes decryption fail inside a resolver: a real internal error.
    async with create_session_factory(engine)() as session, session.begin():
        await session.execute(update(Person).where(Person.id == portal.father)
                              .values(individual_number_ciphertext=b"\x00" * 40))
    with caplog.at_level(logging.ERROR, logger="api.graphql"):
        result = await portal.query("{ viewer { name maskedIndividualNumber } }", token=portal.father_token)
    assert result == {"data": None, "errors": [{
        "message": "Unexpected error.", "locations": [{"line": 1, "column": 17}],
        "path": ["viewer", "maskedIndividualNumber"], "extensions": {"code": "INTERNAL"}}]}
    assert [r.getMessage() for r in caplog.records] == ["unexpected error in viewer.maskedIndividualNumber"]
    assert caplog.records[0].exc_info[0].__name__ == "InvalidTag"


async def test_each_document_is_parsed_and_validated_once_with_the_limits(portal: Portal,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Every validation builds each rule once: count the depth limit's; every parse goes through graphql_parse.
    depth_rule = portal.app.state.schema.gateway.rules[0]
    validations: list[str] = []
    real_init = depth_rule.__init__
    monkeypatch.setattr(depth_rule, "__init__", lambda rule, context: validations.append("run") or real_init(
        rule, context))
    parses: list[str] = []
    real_parse = documents.graphql_parse
    monkeypatch.setattr(documents, "graphql_parse", lambda text, **options: parses.append(text) or real_parse(
        text, **options))
    document = operation("TvViewer")
    for _ in range(6):
        result = await portal.query(document, token=portal.father_token)
        assert result["data"]["viewer"]["name"] == "山田 太郎"
    assert (len(parses), validations) == (1, ["run"])
    # The limits still apply to every new document.
    assert codes(await portal.query(DEEP, token=portal.father_token)) == ["QUERY_TOO_DEEP"]
    assert validations == ["run", "run"]


async def test_several_operations_need_an_operation_name(portal: Portal) -> None:
    document = "query A { viewer { name } } query B { viewer { id } }"
    result = await portal.query(document, token=portal.father_token)
    assert result == {"data": None, "errors": [{
        "message": "The document holds several operations: operationName must name the one to run.",
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}
    response = await portal.post({"query": document, "operationName": "A"}, token=portal.father_token)
    assert response.json() == {"data": {"viewer": {"name": "山田 太郎"}}}


async def test_comments_count_as_tokens(portal: Portal) -> None:
    limit = portal.app.state.settings.max_tokens
    result = await portal.query("#\n" * limit + "{ viewer { name } }", token=portal.father_token)
    assert codes(result) == ["TOO_MANY_TOKENS"]
    assert (await portal.query("#\n" * 100 + "{ viewer { name } }", token=portal.father_token))["data"] == {
        "viewer": {"name": "山田 太郎"}}


async def test_a_document_longer_than_the_limit_is_refused_before_it_is_read(portal: Portal) -> None:
    limit = portal.app.state.settings.max_document_length
    result = await portal.query("#" + "x" * limit + "\n{ viewer { name } }", token=portal.father_token)
    assert result["errors"] == [{"message": f"Syntax Error: Source contains more than {limit} code points. "
                                            "Parsing aborted.", "locations": [{"line": 1, "column": limit + 1}],
                                 "extensions": {"code": "DOCUMENT_TOO_LONG"}}]
    assert portal.app.state.schema.documents.bytes < limit


CHILDREN = operation("ViewerChildren")


@pytest.mark.parametrize(("value", "problem"), [
    ("\ud800", "is not valid Unicode (a lone surrogate)"),
    ("a\u0000b", "holds a control character"),
    ("x" * 10_001, "is longer than 10000 characters"),
])
async def test_text_variables_are_checked_before_anything_runs(portal: Portal, value: str, problem: str) -> None:
    # json.dumps escapes a lone surrogate as \ud800, as a client's JSON encoder may.
    response = await portal.client.post("/graphql", content=json.dumps(
        {"query": CHILDREN, "variables": {"first": 1, "after": value}}), headers={
        "content-type": "application/json", "authorization": f"Bearer {portal.father_token}"})
    result = response.json()
    assert result == {"data": None, "errors": [{
        "message": f"The text of variables.after {problem}.",
        "extensions": {"field": "variables.after", "reason": "TEXT_INVALID", "code": "BAD_USER_INPUT"}}]}


async def test_text_literals_are_checked_too(portal: Portal) -> None:
    result = await portal.query('{ viewer { children(first: 1, after: "a\\u0000b") { edges { cursor } } } }',
                                token=portal.father_token)
    assert result["data"] is None
    assert result["errors"][0]["extensions"] == {"field": "a string in the document", "reason": "TEXT_INVALID",
                                                 "code": "BAD_USER_INPUT"}


async def test_integers_beyond_the_graphql_int_are_bad_input(portal: Portal) -> None:
    for first in (2**31, 10**4000):  # 32-bit Int (graphql-core); beyond BIGINT (the gateway)
        result = await portal.query(CHILDREN, {"first": first}, token=portal.father_token)
        assert result["data"] is None
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    result = await portal.query(CHILDREN, {"first": 10**4000}, token=portal.father_token)
    assert result["errors"][0]["extensions"]["reason"] == "VALUE_OUT_OF_RANGE"


async def test_cursors_are_signed(portal: Portal) -> None:
    page = await portal.query(operation("Agencies"), {"first": 1}, token=portal.father_token)
    cursor = page["data"]["agencies"]["pageInfo"]["endCursor"]
    following = await portal.query(operation("Agencies"), {"first": 1, "after": cursor}, token=portal.father_token)
    assert "errors" not in following
    # The same key, base64 of its JSON, not made here: refused (it used to be read as a key).
    [slug] = json.loads(base64.urlsafe_b64decode(cursor + "==")[16:])
    forged = base64.urlsafe_b64encode(json.dumps([slug]).encode()).decode().rstrip("=")
    result = await portal.query(operation("Agencies"), {"first": 1, "after": forged}, token=portal.father_token)
    assert result["data"] is None
    assert result["errors"][0]["message"] == "the cursor is not valid"
    assert result["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


async def test_a_nul_in_a_nested_input_is_refused_with_no_side_effect(portal: Portal, engine: AsyncEngine) -> None:
    # On PostgreSQL a NUL in text was a psycopg DataError (INTERNAL), reachable by any agency or person.
    key = await agency_key(engine, "chiyoda-city")
    result = await portal.query(PUBLISH, {"input": segment_input(attachments=[
        {"kind": "pdf", "reference": "r\u0000", "label": "届出"}])}, token=key)
    assert result == {"data": None, "errors": [{
        "message": "The text of variables.input.attachments[0].reference holds a control character.",
        "extensions": {"field": "variables.input.attachments[0].reference", "reason": "TEXT_INVALID",
                       "code": "BAD_USER_INPUT"}}]}
    async with create_session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Notice)) == 0
