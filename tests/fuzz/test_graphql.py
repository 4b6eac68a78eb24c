"""Property-based tests over every query and mutation field of the GraphQL schema (schemathesis, from
graphql/schema.graphql), with a person's token, on both databases: no response 5xx, every error with its
extensions.code. Run against a development app (any document allowed): production takes persisted ones only."""

from __future__ import annotations

from typing import Any

import graphql
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.graphql import nodes

from api.openapi import portal_document
from api.platform.settings import PROJECT_ROOT
from tests.fuzz.conftest import FuzzPortal
from tests.fuzz.harness import MODES, Check, graphql_failure, run_all, seed_for, summary

pytestmark = pytest.mark.slow  # tens of seconds each: run first (tests/conftest.py)

SDL = PROJECT_ROOT / "graphql" / "schema.graphql"
# Fields an agency's systems call with their API key (the rest: a person's session token).
AGENCY_FIELDS = frozenset({"noticePublish", "noticeDeliveryReport", "paymentOrderCreate", "paymentOrderCancel",
                           "paymentRefund", "agencyPayments", "agencyReconciliation", "exchangeRequest",
                           "exchangeCopiesRegister", "exchangeRecords", "inboxApplications", "inboxApplication",
                           "moveApplication"})
# The custom scalars: real dates and times, the calendar's ends, and text that is neither.
_ODD_TEXT = st.one_of(st.sampled_from(["", "\x00", "\ud800", "9999-12-31T23:59:59+14:00", "0001-01-01"]), st.text())
# String arguments: any text, and the known troublemakers (NUL, a lone surrogate, very long) often.
schemathesis.graphql.scalar("String", st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x" * 5000, "", " "]), st.text()).map(nodes.String))
schemathesis.graphql.scalar("Date", st.one_of(st.dates().map(str), _ODD_TEXT).map(nodes.String))
# JSON (a copy's value): numbers, texts, and flat objects of them.
_JSON_LEAF = st.one_of(st.integers(-(10**13), 10**13).map(nodes.Int), st.text().map(nodes.String))
schemathesis.graphql.scalar("JSON", st.one_of(_JSON_LEAF, st.dictionaries(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True), _JSON_LEAF, max_size=5).map(
    lambda fields: nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value)
                                 for name, value in fields.items()]))))
schemathesis.graphql.scalar("DateTime", st.one_of(st.datetimes().map(lambda d: d.isoformat()), _ODD_TEXT)
                            .map(nodes.String))
# JSON (the exchange's copy values): any scalar JSON value; the server checks each kind's schema.
schemathesis.graphql.scalar("JSON", st.one_of(_ODD_TEXT.map(nodes.String), st.integers(-(2**31), 2**31 - 1)
                                              .map(nodes.Int), st.booleans().map(nodes.Boolean), st.just(nodes.Null)))


def graphql_check(_: Any, response: Any) -> str | None:
    if response.status_code == 200 and response.headers.get("content-type", [""])[0].startswith("text/html"):
        return None  # GraphiQL, for a GET without a query (development)
    return graphql_failure(response)


def _jobs(portal: FuzzPortal) -> list[tuple[Any, Any, Check, dict[str, Any]]]:
    schema = schemathesis.graphql.from_file(SDL.read_text())
    jobs = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label.startswith("Subscription"):
            continue  # over graphql-transport-ws (H3's area), not a POST
        token = portal.agency_key if operation.label.split(".")[1] in AGENCY_FIELDS else portal.person_token
        jobs.append((operation, GenerationMode.POSITIVE, graphql_check,
                     {"headers": {"Authorization": f"Bearer {token}"}}))
    return jobs


async def test_no_graphql_field_answers_5xx_and_every_error_has_its_code(
    fuzz_portal: FuzzPortal, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tallies = await run_all(_jobs(fuzz_portal), fuzz_portal.base_url + "/graphql", seed_for(database_url))
    report = summary(database_url.split(":", 1)[0], tallies)
    with capsys.disabled():
        print("\n" + report)
    assert [t.label for t in tallies if t.failures] == [], report
    assert sum(t.server_errors for t in tallies) == 0
    assert [t.label for t in tallies if t.short()] == [], report


def _endpoint_jobs(portal: FuzzPortal) -> list[tuple[Any, Any, Check, dict[str, Any]]]:
    """The /graphql endpoint itself, from its OpenAPI description: bodies and query strings of any shape."""
    schema = schemathesis.openapi.from_dict(portal_document())
    headers = {"headers": {"Authorization": f"Bearer {portal.person_token}"}}
    return [(result.ok(), mode, graphql_check, headers) for result in schema.get_all_operations()
            if result.ok().path == "/graphql" for mode in MODES]


async def test_the_graphql_endpoint_answers_any_body_without_5xx(
    fuzz_portal: FuzzPortal, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tallies = await run_all(_endpoint_jobs(fuzz_portal), fuzz_portal.base_url, seed_for(database_url))
    report = summary(database_url.split(":", 1)[0], tallies)
    with capsys.disabled():
        print("\n" + report)
    assert [t.label for t in tallies if t.failures] == [], report
    assert [t.label for t in tallies if t.short()] == [], report
