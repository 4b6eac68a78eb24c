from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
import websockets
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from strawberry.relay import GlobalID

from api.agencies.credentials import NOTICES_PUBLISH, issue_agency_key
from api.agencies.models import Agency, AgencyPersonCode
from api.app import create_app
from api.notices.models import Notice
from api.platform.db import create_session_factory, dispose_engine
from tests.api.conftest import Portal, operation
from tests.conftest import make_settings
from tests.push.helpers import free_port

PUBLISH = operation("NoticePublish")
REPORT = operation("NoticeDeliveryReport")


async def agency_key(engine: AsyncEngine, slug: str, scopes: frozenset[str] | None = None) -> str:
    async with create_session_factory(engine)() as session, session.begin():
        agency = await session.scalar(select(Agency).where(Agency.slug == slug))
        assert agency is not None
        if scopes is None:
            return await issue_agency_key(session, agency.id, label="test")
        return await issue_agency_key(session, agency.id, label="test", scopes=scopes)


async def person_code(engine: AsyncEngine, slug: str, person: object) -> str:
    async with create_session_factory(engine)() as session:
        code = await session.scalar(select(AgencyPersonCode.code).join(Agency).where(
            Agency.slug == slug, AgencyPersonCode.person_id == person))
    assert code is not None
    return code


def segment_input(**overrides: object) -> dict[str, Any]:
    return {"audience": "SEGMENT", "category": "CHILD_REARING", "title": "児童手当", "body": "現況届の提出",
            "segment": {"hasChildUnder": 18}, **overrides}


async def test_an_agency_publishes_and_the_parent_reads_and_marks(portal: Portal, engine: AsyncEngine) -> None:
    key = await agency_key(engine, "chiyoda-city")
    published = await portal.query(PUBLISH, {"input": segment_input(reference="r-1")}, token=key)
    assert published["data"]["noticePublish"]["recipientCount"] == 2
    assert published["data"]["noticePublish"]["replayed"] is False
    notice_id = published["data"]["noticePublish"]["id"]
    again = await portal.query(PUBLISH, {"input": segment_input(reference="r-1")}, token=key)
    assert again["data"]["noticePublish"] == {**published["data"]["noticePublish"], "replayed": True}

    listed = await portal.query(operation("Notices"), {"first": 10, "unread": True}, token=portal.father_token)
    [edge] = listed["data"]["notices"]["edges"]
    assert {k: edge["node"][k] for k in ("id", "category", "title", "readAt", "agency")} == {
        "id": notice_id, "category": "CHILD_REARING", "title": "児童手当", "readAt": None,
        "agency": {"name": "千代田区"}}
    marked = await portal.query(operation("NoticeMarkRead"), {"id": notice_id}, token=portal.father_token)
    assert marked["data"]["noticeMarkRead"]["readAt"] is not None
    unread = await portal.query(operation("Notices"), {"unread": True}, token=portal.father_token)
    assert unread["data"]["notices"]["edges"] == []

    report = await portal.query(REPORT, {"noticeId": notice_id}, token=key)
    assert report["data"]["noticeDeliveryReport"] == {
        "counts": [], "deliveries": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
    other = await portal.query(REPORT, {"noticeId": notice_id}, token=await agency_key(engine, "kyokai-kenpo"))
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_parent_reads_the_childs_notices_by_person_id(portal: Portal, engine: AsyncEngine) -> None:
    key = await agency_key(engine, "chiyoda-city")
    code = await person_code(engine, "chiyoda-city", portal.child)
    await portal.query(PUBLISH, {"input": segment_input(audience="PERSON", segment=None, recipientCode=code)},
                       token=key)
    child_id = str(GlobalID("Person", str(portal.child)))
    listed = await portal.query(operation("Notices"), {"personId": child_id}, token=portal.father_token)
    assert [e["node"]["title"] for e in listed["data"]["notices"]["edges"]] == ["児童手当"]


async def test_who_may_publish(portal: Portal, engine: AsyncEngine) -> None:
    read_only = await agency_key(engine, "chiyoda-city", frozenset({"notices:delivery-read"}))
    cases = [(portal.father_token, "FORBIDDEN"), (None, "UNAUTHENTICATED"), (read_only, "FORBIDDEN")]
    for token, code in cases:
        result = await portal.query(PUBLISH, {"input": segment_input()}, token=token)
        assert (result["data"], result["errors"][0]["extensions"]["code"]) == (None, code)
    bad = await portal.query(PUBLISH, {"input": segment_input(actionUrl="http://x.example/")},
                             token=await agency_key(engine, "chiyoda-city", frozenset({NOTICES_PUBLISH})))
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    async with create_session_factory(engine)() as session:
        assert list(await session.scalars(select(Notice))) == []


async def test_an_http_push_endpoint_is_refused(portal: Portal) -> None:
    key = (await portal.query(operation("PushApplicationServerKey"), token=portal.father_token))["data"][
        "pushApplicationServerKey"]
    result = await portal.query(operation("PushSubscriptionRegister"), {"input": {
        "endpoint": "http://push.example/x", "p256dh": "AAAA", "auth": "AAAA", "applicationServerKey": key,
        "deviceLabel": "phone"}}, token=portal.father_token)
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


async def subscribe(url: str, token: str | None) -> Any:
    socket = await websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")])
    await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    return socket


async def test_notice_added_reaches_an_open_app_served_by_another_worker(
    portal: Portal, engine: AsyncEngine, database_url: str
) -> None:
    # Two app instances stand for two uvicorn workers; on SQLite they share the in-process hub.
    listener_app = create_app(make_settings(database_url), owns_process=False)
    key = await agency_key(engine, "chiyoda-city")
    async with serving(listener_app) as url:
        socket = await subscribe(url, portal.father_token)
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": operation("NoticeAdded")}}))
        await asyncio.sleep(0.3)  # the listener is registered
        await portal.query(PUBLISH, {"input": segment_input(segment={"maxAge": 17})}, token=key)  # the child only
        await portal.query(PUBLISH, {"input": segment_input(title="父へ")}, token=key)
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert (message["type"], message["payload"]["data"]["noticeAdded"]["title"]) == ("next", "父へ")
        await socket.close()
        refused = await subscribe(url, "mpt_not-a-token")
        try:
            await asyncio.wait_for(refused.recv(), 5)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
    await dispose_engine(listener_app.state.engine)
