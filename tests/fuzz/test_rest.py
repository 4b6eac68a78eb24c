"""Property-based tests over every REST operation's OpenAPI document (schemathesis), on both databases:
valid and invalid input, no response 5xx, every error in its surface's format with a stable code."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import DOCUMENTS
from api.platform.errors import PROBLEM_MEDIA_TYPE
from tests.fuzz.conftest import FuzzPortal
from tests.fuzz.harness import MODES, Check, graphql_failure, problem_failure, run_all, seed_for, summary

pytestmark = pytest.mark.slow  # tens of seconds each: run first (tests/conftest.py)

# The time-stamping service takes DER (RFC 3161 TimeStampReq), which schemathesis cannot make from a schema: raw
# bytes instead, a few of them the start of a DER SEQUENCE.
DER_ISH = st.one_of(st.binary(max_size=300), st.binary(max_size=120).map(lambda b: b"\x30\x82" + b))
schemathesis.openapi.media_type("application/timestamp-query", DER_ISH)

PROBLEM_SURFACES = ("/payments/", "/pki/", "/openapi/", "/records/", "/exchange/", "/selfinfo/", "/applications/",
                    "/certificates/", "/kiosk/", "/delivery/")


CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def conforms(case: Any, response: Response) -> str | None:
    """The answer is in the document (status, media type, schema) and errors are in the surface's format."""
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except FailureGroup as group:
        return "; ".join(" ".join(str(failure).split())[:300] for failure in group.exceptions)
    return error_format(case, response)


def error_format(case: Any, response: Response) -> str | None:
    """A 4xx answer in the surface's own format, with its stable code."""
    path = case.operation.path
    if path == "/graphql":
        return graphql_failure(response)
    if response.status_code < 400:
        return None
    if path.startswith(PROBLEM_SURFACES):
        return problem_failure(response)
    if path.startswith("/oidc/authorize"):
        # The browser's pages: an error page when there is no redirect URI to trust (else a redirect).
        media = response.headers.get("content-type") or [""]
        html = (media[0] if isinstance(media, list) else media).startswith("text/html")
        return None if html or response.status_code == 429 else f"not an error page: {response.text[:200]}"
    if path.startswith(("/oauth/", "/oidc/")):
        body = response.json()
        return None if isinstance(body.get("error"), str) else f"not an OAuth error: {response.text[:200]}"
    if path == "/" or path.startswith("/web/"):  # the web portal answers people with HTML pages
        kind = response.headers.get("content-type", [""])
        kind = kind[0] if isinstance(kind, list) else kind
        if kind.startswith(PROBLEM_MEDIA_TYPE):  # a path no route matches: the app's problem
            return problem_failure(response)
        return None if kind.startswith("text/html") else f"not an HTML page: {response.text[:200]}"
    if path.startswith("/corporate/4/"):
        text = response.text
        code = response.json().get("code", "") if text.startswith("{") else text.split(",", 1)[0]
        return None if code.isdigit() and len(code) == 3 else f"no NTA error code: {text[:200]}"
    return f"an unexpected {response.status_code}: {response.text[:200]}"


def _jobs(portal: FuzzPortal) -> list[tuple[Any, Any, Check, dict[str, Any]]]:
    jobs = []
    for build in DOCUMENTS.values():
        schema = schemathesis.openapi.from_dict(build())
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path == "/graphql":
                continue  # tests/fuzz/test_graphql.py
            fixed: dict[str, Any] = {}
            if operation.path.startswith("/applications/inbox"):
                fixed["headers"] = {"Authorization": f"Bearer {portal.municipality_key}"}
            elif operation.path.startswith(("/payments/v1/", "/exchange/", "/selfinfo/v1/")):
                fixed["headers"] = {"Authorization": f"Bearer {portal.agency_key}"}
            elif operation.path.startswith("/kiosk/"):
                fixed["headers"] = {"Authorization": f"Bearer {portal.kiosk_key}"}
            elif operation.path.startswith("/corporate/4/"):
                fixed["query"] = {"id": portal.application_id}
            elif operation.path == "/graphql":
                fixed["headers"] = {"Authorization": f"Bearer {portal.person_token}"}
            for mode in MODES:
                jobs.append((operation, mode, conforms, fixed))
    return jobs


async def test_no_rest_operation_answers_5xx_and_every_error_has_its_code(
    fuzz_portal: FuzzPortal, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tallies = await run_all(_jobs(fuzz_portal), fuzz_portal.base_url, seed_for(database_url))
    report = summary(database_url.split(":", 1)[0], tallies)
    with capsys.disabled():
        print("\n" + report)
    assert [t.label for t in tallies if t.failures] == [], report
    assert sum(t.server_errors for t in tallies) == 0
    # The stated minimum, where the input space is not smaller than that.
    assert [t.label for t in tallies if t.short()] == [], report
