"""The view's direct path: a valid JSON POST runs without strawberry's pipeline and answers exactly as
strawberry's pipeline does (compared with the same operation sent by GET, which always takes it)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import MaskErrors

from api.audit.models import AccessRecord
from api.schema import PortalSchema
from tests.api.conftest import Portal, operation
from tests.api.schema.test_query import global_id


@pytest.fixture
def pipeline_runs(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The documents strawberry's pipeline executed."""
    runs: list[str | None] = []
    real = PortalSchema.execute

    async def counted(self: PortalSchema, query: str | None, *args: Any, **kwargs: Any) -> Any:
        runs.append(query)
        return await real(self, query, *args, **kwargs)

    monkeypatch.setattr(PortalSchema, "execute", counted)
    return runs


async def by_get(portal: Portal, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    params = {"query": document, **({"variables": json.dumps(variables)} if variables else {})}
    response = await portal.client.get("/graphql", params=params,
                                       headers={"authorization": f"Bearer {portal.father_token}"})
    assert response.status_code == 200
    return response.json()


CASES = [
    ("Viewer", None),
    ("TvViewer", None),
    ("ViewerChildren", {"first": 1}),
    ("Agencies", {"first": 2}),
    ("Notices", {"first": 5}),
    ("ProxyGrants", None),
    ("PersonNode", "mother"),  # NOT_FOUND from a resolver
    ("PersonNode", "malformed"),  # BAD_USER_INPUT from the id scalar
    ("PaymentOrdersDue", {"first": 3}),
]


@pytest.mark.parametrize(("name", "variables"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
async def test_the_direct_path_answers_as_strawberrys_pipeline(
    portal: Portal, pipeline_runs: list[str | None], name: str, variables: Any
) -> None:
    if variables == "mother":
        variables = {"id": global_id("Person", portal.mother)}
    elif variables == "malformed":
        variables = {"id": "not base64!"}
    document = operation(name)
    direct = await portal.query(document, variables, token=portal.father_token)
    assert pipeline_runs == []
    assert await by_get(portal, document, variables) == direct
    assert pipeline_runs == [document]


async def test_a_persisted_hash_takes_the_direct_path(portal: Portal, pipeline_runs: list[str | None]) -> None:
    digest = hashlib.sha256(operation("Viewer").encode()).hexdigest()
    result = await portal.query(None, extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}},
                                token=portal.father_token)
    assert result["data"]["viewer"]["name"] == "山田 太郎"
    assert pipeline_runs == []


async def test_each_read_is_recorded_once_on_either_path(portal: Portal, session: AsyncSession) -> None:
    variables = {"id": global_id("Person", portal.child)}
    direct = await portal.query(operation("PersonNode"), variables, token=portal.father_token)
    assert direct["data"]["node"]["name"] == "山田 一郎"
    assert await session.scalar(select(func.count()).select_from(AccessRecord)) == 1
    await session.rollback()  # the test session's transaction holds SQLite's write lock
    assert await by_get(portal, operation("PersonNode"), variables) == direct
    assert await session.scalar(select(func.count()).select_from(AccessRecord)) == 2


@pytest.mark.parametrize(("body", "code"), [
    ({"query": "{ viewer { name "}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ viewer { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": None, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
     "PERSISTED_QUERY_NOT_FOUND"),
    ({"query": "{ viewer { name } }", "operationName": "Other"}, None),  # strawberry: HTTP 400
])
async def test_errors_before_execution_are_left_to_strawberry(
    portal: Portal, pipeline_runs: list[str | None], body: dict[str, Any], code: str | None
) -> None:
    response = await portal.post(body, token=portal.father_token)
    assert len(pipeline_runs) == 1
    if code is None:
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    else:
        assert [error["extensions"]["code"] for error in response.json()["errors"]] == [code]


async def test_other_requests_are_left_to_strawberry(portal: Portal, pipeline_runs: list[str | None]) -> None:
    batch = await portal.post([{"query": "{ viewer { name } }"}], token=portal.father_token)
    assert batch.status_code == 400
    form = await portal.client.post("/graphql", content=b"query={viewer{name}}",
                                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400
    assert [error["extensions"]["code"] for error in form.json()["errors"]] == ["BAD_USER_INPUT"]
    assert pipeline_runs == []  # both refused by strawberry's HTTP layer before execution


def test_any_other_extension_turns_the_direct_path_off(portal: Portal) -> None:
    schema = portal.app.state.schema
    assert schema.runs_documents_directly
    schema.extensions = [*schema.extensions, MaskErrors]
    assert not schema.runs_documents_directly


async def asgi_post(portal: Portal, chunks: list[bytes]) -> tuple[int, dict[bytes, bytes], bytes]:
    """POST /graphql straight to the app's ASGI callable, the body in ``chunks`` (as a client streams it)."""
    messages = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
                for index, chunk in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"portal.test"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {portal.father_token}".encode())],
             "client": ("127.0.0.1", 1), "server": ("portal.test", 80)}
    await portal.app(scope, receive, send)
    start, *bodies = sent
    return start["status"], dict(start["headers"]), b"".join(body.get("body", b"") for body in bodies)


async def test_a_body_sent_in_parts_is_read_whole_on_either_path(portal: Portal,
                                                                pipeline_runs: list[str | None]) -> None:
    body = json.dumps({"query": "{ viewer { name } }"}).encode()
    status, headers, answer = await asgi_post(portal, [body[:7], body[7:20], body[20:]])
    assert (status, json.loads(answer), pipeline_runs) == (200, {"data": {"viewer": {"name": "山田 太郎"}}}, [])
    assert (headers[b"content-type"], headers[b"content-length"]) == (b"application/json", str(len(answer)).encode())
    assert len(headers[b"x-request-id"]) == 32  # the request-id middleware still wraps the direct path
    # Not JSON: strawberry's pipeline reads the same parts again and answers its own error.
    status, _, answer = await asgi_post(portal, [b'{"query": ', b'"{ viewer { name } }"'])
    assert (status, json.loads(answer)["errors"][0]["extensions"]) == (400, {"code": "BAD_USER_INPUT"})
