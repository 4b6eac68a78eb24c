"""The person's record through GraphQL: the connection and its filters, parent and proxy access, the live feed over
a real graphql-transport-ws connection."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import GlobalID

from api.agencies.models import Agency
from api.app import create_app
from api.exchange.record import exchange_record_leaf
from api.identity.tokens import issue_token
from api.platform.db import create_session_factory, dispose_engine
from api.proxies.service import grant_proxy
from api.records import merkle
from api.records.client import TreeHead, verify_head
from api.records.log import integrate, queue_leaf
from api.records.signing import LogSigner
from tests.api.conftest import Portal, operation
from tests.api.history.helpers import add_exchange
from tests.api.schema.test_notices import serving, subscribe
from tests.conftest import make_settings

HISTORY = operation("RecordHistory")
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def person(raw: object) -> str:
    return str(GlobalID("Person", str(raw)))


async def _agencies(engine: AsyncEngine) -> dict[str, Agency]:
    async with create_session_factory(engine)() as session:
        return {agency.slug: agency for agency in await session.scalars(select(Agency))}


async def _token(engine: AsyncEngine, who: object) -> str:
    async with create_session_factory(engine)() as session, session.begin():
        return await issue_token(session, who, ttl=timedelta(minutes=15))  # type: ignore[arg-type]


async def test_the_record_pages_and_filters(portal: Portal, engine: AsyncEngine) -> None:
    agencies = await _agencies(engine)
    city, pension = agencies["chiyoda-city"], agencies["japan-pension-service"]
    async with create_session_factory(engine)() as session, session.begin():
        first = await add_exchange(session, portal.father, city, pension, T0, duty="国民年金保険料の免除")
        second = await add_exchange(session, portal.father, pension, city, T0 + timedelta(days=1))
        await add_exchange(session, portal.father, city, pension, T0 + timedelta(days=2),
                           hidden_until=datetime(2199, 1, 1, tzinfo=UTC))
    page = await portal.query(HISTORY, {"first": 1}, token=portal.father_token)
    [edge] = page["data"]["recordHistory"]["edges"]
    node = edge["node"]
    assert {k: node[k] for k in ("id", "kind", "requester", "provider", "duty", "items", "legalBasis", "outcome",
                                 "processingType", "queryId", "actorName", "proof")} == {
        "id": f"e:{second.id}", "kind": "EXCHANGE", "requester": {"name": pension.name},
        "provider": {"name": city.name}, "duty": "児童手当の支給", "items": ["地方税関係情報"],
        "legalBasis": "beppyo2:74", "outcome": "provided", "processingType": "copy", "queryId": str(second.query_id),
        "actorName": None, "proof": None}
    assert page["data"]["recordHistory"]["pageInfo"]["hasNextPage"] is True
    after = page["data"]["recordHistory"]["pageInfo"]["endCursor"]
    rest = await portal.query(HISTORY, {"first": 5, "after": after}, token=portal.father_token)
    assert [e["node"]["id"] for e in rest["data"]["recordHistory"]["edges"]] == [f"e:{first.id}"]

    filtered = await portal.query(HISTORY, {"filter": {"duty": "国民年金保険料の免除", "kinds": ["EXCHANGE"],
                                                       "since": T0.isoformat(),
                                                       "agencyId": str(GlobalID("Agency", str(city.id)))}},
                                  token=portal.father_token)
    assert [e["node"]["id"] for e in filtered["data"]["recordHistory"]["edges"]] == [f"e:{first.id}"]
    bad = await portal.query(HISTORY, {"after": "not-a-cursor"}, token=portal.father_token)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad = await portal.query(HISTORY, {"filter": {"since": T0.isoformat(), "until": T0.isoformat()}},
                             token=portal.father_token)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_parent_and_proxy_access_goes_on_the_record(portal: Portal, engine: AsyncEngine) -> None:
    mother = await _token(engine, portal.mother)
    refused = await portal.query(HISTORY, {"personId": person(portal.father)}, token=mother)
    assert refused["errors"][0]["extensions"]["code"] == "NOT_AUTHORIZED_FOR_PERSON"
    # The father reads his minor child's record: the child's record shows it, with his name.
    child = await portal.query(HISTORY, {"personId": person(portal.child)}, token=portal.father_token)
    assert child["data"]["recordHistory"]["edges"] == []
    again = await portal.query(HISTORY, {"personId": person(portal.child)}, token=portal.father_token)
    [read] = [e["node"] for e in again["data"]["recordHistory"]["edges"]]
    assert (read["kind"], read["actorName"], read["purpose"]) == ("PROXY_READ", "山田 太郎", "records:history")

    async with create_session_factory(engine)() as session, session.begin():
        await grant_proxy(session, principal_id=portal.father, proxy_id=portal.mother, scopes=["records:read"],
                          valid_until=date.today() + timedelta(days=3), today=date.today())
    allowed = await portal.query(HISTORY, {"personId": person(portal.father)}, token=mother)
    assert allowed["data"]["recordHistory"]["edges"] == []
    own = await portal.query(HISTORY, {}, token=portal.father_token)
    assert [(e["node"]["kind"], e["node"]["actorName"]) for e in own["data"]["recordHistory"]["edges"]] == [
        ("PROXY_READ", "山田 花子")]


async def test_a_new_entry_reaches_an_open_app_within_a_second(portal: Portal, engine: AsyncEngine,
                                                               database_url: str) -> None:
    agencies = await _agencies(engine)
    # Another app instance stands for another worker: the entry is written elsewhere (by the exchange hub).
    listener_app = create_app(make_settings(database_url), owns_process=False)
    async with serving(listener_app) as url:
        socket = await subscribe(url, portal.father_token)
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": operation("RecordAdded")}}))
        await asyncio.sleep(0.5)  # the feed is open
        delays = []
        for day in range(2):
            async with create_session_factory(engine)() as session, session.begin():
                await add_exchange(session, portal.mother, agencies["chiyoda-city"], agencies["kyokai-kenpo"],
                                   T0)  # not his
                made = await add_exchange(session, portal.father, agencies["chiyoda-city"],
                                          agencies["kyokai-kenpo"], T0 + timedelta(days=day),
                                          duty=f"duty {day}")
            written = time.perf_counter()
            message = json.loads(await asyncio.wait_for(socket.recv(), 5))
            delays.append(time.perf_counter() - written)
            assert message["type"] == "next"
            added = message["payload"]["data"]["recordAdded"]
            assert (added["id"], added["kind"], added["duty"], added["provider"]) == (
                f"e:{made.id}", "EXCHANGE", f"duty {day}", {"name": "全国健康保険協会"})
        assert max(delays) < 1.0, delays
        await socket.close()
    await dispose_engine(listener_app.state.engine)


async def test_an_exchange_carries_a_proof_that_verifies_against_the_signed_head(portal: Portal,
                                                                                 engine: AsyncEngine) -> None:
    agencies = await _agencies(engine)
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        record = await add_exchange(session, portal.father, agencies["chiyoda-city"],
                                    agencies["japan-pension-service"], T0)
        # What the hub and the 自己情報 reads do in the record's transaction (tests/api/exchange/test_hub.py).
        record.log_leaf_id = await queue_leaf(session, exchange_record_leaf(record))
    pending = await portal.query(HISTORY, {"first": 1}, token=portal.father_token)
    assert pending["data"]["recordHistory"]["edges"][0]["node"]["proof"] is None  # not sequenced yet
    signer = LogSigner.from_settings(make_settings())
    async with factory() as session:
        assert await integrate(session, signer) is not None
    page = await portal.query(HISTORY, {"first": 1}, token=portal.father_token)
    proof = page["data"]["recordHistory"]["edges"][0]["node"]["proof"]
    leaf = merkle.leaf_hash(exchange_record_leaf(record))
    assert base64.b64decode(proof["leafHash"]) == leaf
    path = [base64.b64decode(node) for node in proof["inclusionPath"]]
    root = base64.b64decode(proof["rootHash"])
    assert merkle.verify_inclusion(leaf, proof["leafIndex"], proof["treeSize"], path, root) is True
    head = TreeHead(proof["treeSize"], root, int(proof["timestamp"]), proof["keyGeneration"],
                    base64.b64decode(proof["signature"]))
    verify_head(head, signer.public_keys())  # raises when the signature does not hold
    # A path for another leaf does not verify: the proof is about this record.
    assert merkle.verify_inclusion(merkle.leaf_hash(b"another record"), proof["leafIndex"], proof["treeSize"],
                                   path, root) is False
