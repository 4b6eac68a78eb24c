"""The view: every request runs through strawberry's pipeline (POST, GET, persisted hash, errors before execution,
mutations, WebSocket subscriptions), so an extension or a custom directive added to the schema runs on each."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
import websockets
from graphql import DirectiveLocation
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from strawberry.directive import DirectiveValue
from strawberry.extensions import SchemaExtension

from api.app import create_app
from api.demo import seed_demo
from api.identity.tokens import issue_token
from api.people.individual_number import IndividualNumberCipher
from api.platform.access_records import AccessRecord
from api.platform.db import create_session_factory, dispose_engine
from api.platform.limits import attachment_limits
from api.schema import PortalSchema, build_schema
from api.schema.security import OperationRegistry
from tests.api.conftest import Portal, operation
from tests.api.schema.test_notices import agency_key, segment_input, serving, subscribe
from tests.api.schema.test_query import global_id
from tests.conftest import make_settings


@pytest.fixture
def pipeline_runs(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The documents strawberry's pipeline was asked to execute."""
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
async def test_post_and_get_answer_alike(
    portal: Portal, pipeline_runs: list[str | None], name: str, variables: Any
) -> None:
    if variables == "mother":
        variables = {"id": global_id("Person", portal.mother)}
    elif variables == "malformed":
        variables = {"id": "not base64!"}
    document = operation(name)
    posted = await portal.query(document, variables, token=portal.father_token)
    assert await by_get(portal, document, variables) == posted
    assert pipeline_runs == [document, document]


async def test_each_read_is_recorded_once_by_post_or_get(portal: Portal, session: AsyncSession) -> None:
    variables = {"id": global_id("Person", portal.child)}
    posted = await portal.query(operation("PersonNode"), variables, token=portal.father_token)
    assert posted["data"]["node"]["name"] == "山田 一郎"
    assert await session.scalar(select(func.count()).select_from(AccessRecord)) == 1
    await session.rollback()  # the test session's transaction holds SQLite's write lock
    assert await by_get(portal, operation("PersonNode"), variables) == posted
    assert await session.scalar(select(func.count()).select_from(AccessRecord)) == 2


@pytest.mark.parametrize(("body", "code"), [
    ({"query": "{ viewer { name "}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ viewer { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": None, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
     "PERSISTED_QUERY_NOT_FOUND"),
    ({"query": "{ viewer { name } }", "operationName": "Other"}, None),  # strawberry: HTTP 400
])
async def test_errors_before_execution_are_answered_by_the_pipeline(
    portal: Portal, pipeline_runs: list[str | None], body: dict[str, Any], code: str | None
) -> None:
    response = await portal.post(body, token=portal.father_token)
    assert len(pipeline_runs) == 1
    if code is None:
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    else:
        assert [error["extensions"]["code"] for error in response.json()["errors"]] == [code]


async def test_malformed_requests_are_refused_before_the_pipeline(portal: Portal,
                                                                  pipeline_runs: list[str | None]) -> None:
    batch = await portal.post([{"query": "{ viewer { name } }"}], token=portal.father_token)
    assert batch.status_code == 400
    form = await portal.client.post("/graphql", content=b"query={viewer{name}}",
                                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400
    assert [error["extensions"]["code"] for error in form.json()["errors"]] == ["BAD_USER_INPUT"]
    assert pipeline_runs == []  # both refused by strawberry's HTTP layer before execution


@pytest.mark.parametrize("operation_name", [{}, {"": None}, 5, ["Viewer"]])
async def test_an_operation_name_that_is_not_a_string_is_refused_before_the_pipeline(
    portal: Portal, pipeline_runs: list[str | None], operation_name: object
) -> None:
    # was INTERNAL (found by tests/fuzz): strawberry checks query, variables and extensions, not operationName
    response = await portal.post({"query": "{ viewer { name } }", "operationName": operation_name},
                                 token=portal.father_token)
    assert response.status_code == 400
    assert response.json()["errors"] == [{
        "message": "The GraphQL operation's `operationName` must be a string or null.",
        "extensions": {"code": "BAD_USER_INPUT"}}]
    assert pipeline_runs == []


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


async def test_a_body_sent_in_parts_is_read_whole(portal: Portal) -> None:
    body = json.dumps({"query": "{ viewer { name } }"}).encode()
    status, headers, answer = await asgi_post(portal, [body[:7], body[7:20], body[20:]])
    assert (status, json.loads(answer)) == (200, {"data": {"viewer": {"name": "山田 太郎"}}})
    assert (headers[b"content-type"], headers[b"content-length"]) == (b"application/json", str(len(answer)).encode())
    assert len(headers[b"x-request-id"]) == 32
    status, _, answer = await asgi_post(portal, [b'{"query": ', b'"{ viewer { name } }'])
    assert (status, json.loads(answer)["errors"][0]["extensions"]) == (400, {"code": "BAD_USER_INPUT"})


# An extension and a directive the portal does not have, added to its schema as any later one would be.

@strawberry.directive(locations=[DirectiveLocation.FIELD], description="Appends a mark to a field's value.")
def marked(value: DirectiveValue[str], mark: str) -> str:
    return f"{value}{mark}"


class Witness(SchemaExtension):
    """Records each operation strawberry's pipeline executes, and signs every result it produces."""

    def __init__(self, executed: list[tuple[str, str | None]]) -> None:
        self.executed = executed

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        self.executed.append((context.operation_type.value, context.operation_name))
        yield

    def get_results(self) -> dict[str, Any]:
        return {"witness": "strawberry"}


SIGNED = {"witness": "strawberry"}
MARKED_VIEWER = 'query MarkedViewer { viewer { name @marked(mark: "#") } }'


@pytest.fixture
async def witnessed(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str,
                    tmp_path: Path) -> AsyncIterator[tuple[str, str, str, list[tuple[str, str | None]]]]:
    """(the served app's base URL, the father's token, an agency key, the operations executed): the app with
    ``Witness`` and ``@marked`` in its schema, and an allowlist holding one document that uses the directive,
    served by uvicorn (every path, WebSocket included, as in production)."""
    async with create_session_factory(engine)() as session, session.begin():
        father = (await seed_demo(session, cipher)).people[0]
        token = await issue_token(session, father, ttl=timedelta(minutes=15))
    key = await agency_key(engine, "chiyoda-city")
    (tmp_path / "MarkedViewer.graphql").write_text(MARKED_VIEWER, encoding="utf-8")
    settings = make_settings(database_url)
    executed: list[tuple[str, str | None]] = []
    schema = build_schema(settings, OperationRegistry.load(tmp_path), extensions=[lambda: Witness(executed)],
                          directives=[marked])
    app = create_app(settings, owns_process=False, schema=schema)
    async with serving(app) as url:
        yield url.replace("ws://", "http://").removesuffix("/graphql"), token, key, executed
    await dispose_engine(app.state.engine)


async def test_an_added_extension_and_directive_run_on_every_path(
    witnessed: tuple[str, str, str, list[tuple[str, str | None]]]
) -> None:
    base, token, key, executed = witnessed
    person = {"authorization": f"Bearer {token}"}
    marked_name = {"viewer": {"name": "山田 太郎#"}}
    digest = hashlib.sha256(MARKED_VIEWER.encode()).hexdigest()
    async with httpx.AsyncClient(base_url=base) as client:
        posted = await client.post("/graphql", json={"query": MARKED_VIEWER}, headers=person)
        assert posted.json() == {"data": marked_name, "extensions": SIGNED}
        got = await client.get("/graphql", params={"query": MARKED_VIEWER}, headers=person)
        assert got.json() == {"data": marked_name, "extensions": SIGNED}
        by_hash = await client.post("/graphql", headers=person, json={
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}})
        assert by_hash.json() == {"data": marked_name, "extensions": SIGNED}
        by_hash_get = await client.get("/graphql", headers=person, params={
            "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})})
        assert by_hash_get.json() == by_hash.json()
        for document, code in (("{ viewer { nope } }", "GRAPHQL_VALIDATION_FAILED"),
                               ("{ viewer { name ", "GRAPHQL_PARSE_FAILED")):
            refused = (await client.post("/graphql", json={"query": document}, headers=person)).json()
            assert ([error["extensions"]["code"] for error in refused["errors"]], refused["extensions"]) \
                == ([code], SIGNED)
        unknown = (await client.post("/graphql", headers=person, json={
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}})).json()
        assert (unknown["errors"][0]["extensions"]["code"], unknown["extensions"]) \
            == ("PERSISTED_QUERY_NOT_FOUND", SIGNED)
        assert executed == [("query", "MarkedViewer")] * 4

        socket = await subscribe(base.replace("http://", "ws://") + "/graphql", token)
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": 'subscription Added { noticeAdded { title @marked(mark: "~") } }'}}))
        await asyncio.sleep(0.3)  # the listener is registered
        published = await client.post("/graphql", headers={"authorization": f"Bearer {key}"}, json={
            "query": 'mutation Publish($input: NoticePublishInput!) { noticePublish(input: $input) '
                     '{ id @marked(mark: "!") } }',
            "variables": {"input": segment_input(title="父へ")}})
        assert published.json()["data"]["noticePublish"]["id"].endswith("!")
        assert published.json()["extensions"] == SIGNED
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert message == {"id": "1", "type": "next",
                           "payload": {"data": {"noticeAdded": {"title": "父へ~"}}, "extensions": SIGNED}}
        await socket.close()
    assert executed[4:] == [("subscription", "Added"), ("mutation", "Publish")]


BAD_BODIES = [
    (b"null", "The request body must be a JSON object."),
    (b"42", "The request body must be a JSON object."),
    (b'"query"', "The request body must be a JSON object."),
    (b'{"query": "{ viewer { name } }\xff"}', "The request body is not valid UTF-8."),
    (b"[" * 100_000, "The request body is nested too deeply."),
    (b'{"query": "query($f: Int) { viewer { children(first: $f) { edges { cursor } } } }", "variables": {"f": '
     + b"9" * 5000 + b"}}", "Unable to parse request body as JSON"),
    (b'{"query": "{ viewer { name } }", "variables": {"f": NaN}}', "Unable to parse request body as JSON"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=["null", "number", "string", "utf8", "nested",
                                                               "digits", "nan"])
async def test_a_body_that_is_not_a_graphql_request_gets_a_coded_400(portal: Portal, body: bytes,
                                                                     message: str) -> None:
    response = await portal.client.post("/graphql", content=body, headers={
        "content-type": "application/json", "authorization": f"Bearer {portal.father_token}"})
    assert (response.status_code, response.json()) == (400, {"errors": [{
        "message": message, "extensions": {"code": "BAD_USER_INPUT"}}]})


async def test_a_subscription_is_not_run_over_post_or_get(portal: Portal) -> None:
    response = await portal.post({"query": operation("NoticeAdded")}, token=portal.father_token)
    assert (response.status_code, response.json()) == (400, {"errors": [{
        "message": "subscriptions are not allowed when using POST", "extensions": {"code": "BAD_USER_INPUT"}}]})
    response = await portal.client.get("/graphql", params={"query": operation("NoticeAdded")},
                                       headers={"authorization": f"Bearer {portal.father_token}"})
    assert (response.status_code, response.json()["errors"][0]["extensions"]) == (400, {"code": "BAD_USER_INPUT"})


async def test_a_body_over_the_limit_is_refused_before_it_is_read(portal: Portal) -> None:
    settings = portal.app.state.settings
    # /graphql admits one attachment of max_attachment_bytes as base64 (ATTACHMENT_TOO_LARGE is the resolver's),
    # and nothing larger.
    limit = attachment_limits(settings.max_attachment_bytes, settings.max_body_graphql)[0]
    assert limit == 4 * ((5 * 1024 * 1024 + 3) // 3) + (64 << 10)
    padding = "#" * (limit + 1)
    response = await portal.post({"query": padding + "\n{ viewer { name } }"}, token=portal.father_token)
    assert (response.status_code, response.json()["errors"][0]["extensions"]) == (
        413, {"code": "PAYLOAD_TOO_LARGE", "limit": limit})
    # REST answers its own kind of 413: a problem (payments' order creation, before its key is looked at).
    response = await portal.client.post("/payments/v1/orders", content=b"{" + b" " * (256 << 10) + b"}",
                                        headers={"content-type": "application/json"})
    assert (response.status_code, response.headers["content-type"], response.json()["code"]) == (
        413, "application/problem+json", "PAYLOAD_TOO_LARGE")


async def test_a_refused_document_over_a_websocket_gets_the_protocols_error_message(
    portal: Portal, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # In persisted-only mode (production), the gateway refuses the text before it is parsed: that refusal used
    # to end the operation with a bare `complete` and a traceback in the log.
    app = create_app(make_settings(database_url, persisted_only=True), owns_process=False)
    async with serving(app) as url:
        socket = await subscribe(url, portal.father_token)
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": "subscription { noticeAdded { id } }"}}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"id": "1", "type": "error", "payload": [{
            "message": "Only persisted operations are accepted by this server.",
            "extensions": {"code": "PERSISTED_QUERY_REQUIRED"}}]}
        await socket.send(json.dumps({"id": "2", "type": "subscribe", "payload": {
            "query": operation("NoticeAdded"), "variables": {"unused": "\ud800"}}}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"id": "2", "type": "error", "payload": [{
            "message": "The text of variables.unused is not valid Unicode (a lone surrogate).",
            "extensions": {"field": "variables.unused", "reason": "TEXT_INVALID", "code": "BAD_USER_INPUT"}}]}
        # The connection still serves.
        await socket.send(json.dumps({"id": "3", "type": "subscribe", "payload": {"query": operation("Viewer")}}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "next"
        await socket.close()
    await dispose_engine(app.state.engine)
    assert [record for record in caplog.records if record.exc_info] == []


async def test_a_websocket_message_over_the_limit_closes_the_connection(
    portal: Portal, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(database_url, max_body_graphql=4096), owns_process=False)
    async with serving(app) as url:
        socket = await subscribe(url, portal.father_token)
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": "#" * 4096 + "\n" + operation("Viewer")}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1009, "message too big")
    await dispose_engine(app.state.engine)
    assert [record for record in caplog.records if record.exc_info] == []
