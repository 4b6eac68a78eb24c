"""The auditors' read routes: keys, the latest head, inclusion and consistency proofs, clean refusals."""

from __future__ import annotations

import base64

from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from api.records import log, merkle
from api.records.client import TreeHead, check_refresh, verify_head
from api.records.signing import LogSigner
from tests.api.conftest import Portal

SIGNER = LogSigner(((3, bytes(range(32))),))


def _head(body: dict[str, object]) -> TreeHead:
    return TreeHead(int(body["size"]), base64.b64decode(str(body["root"])), int(body["timestamp"]),  # type: ignore[call-overload]
                    int(body["keyGeneration"]), base64.b64decode(str(body["signature"])))  # type: ignore[call-overload]


async def test_an_auditor_reads_keys_heads_and_proofs_that_verify(portal: Portal, engine: AsyncEngine) -> None:
    client = portal.client
    assert (await client.get("/records/log/head")).json()["code"] == "NOT_FOUND"
    sessions = create_session_factory(engine)
    async with sessions() as session:
        for i in range(5):
            await log.queue_leaf(session, f"r{i}".encode())
        await log.integrate(session, SIGNER)  # the portal's settings publish the demo key, not this one

    keys = (await client.get("/records/log/keys")).json()
    assert keys["origin"] == "mynaportal/records/v1"
    assert [k["generation"] for k in keys["keys"]] == [1]  # the development demo key
    first = _head((await client.get("/records/log/head")).json())
    verify_head(first, SIGNER.public_keys())
    assert first.size == 5 and first.root == merkle.root_of([merkle.leaf_hash(f"r{i}".encode()) for i in range(5)])

    answer = (await client.get("/records/log/proof/inclusion", params={"index": 3, "treeSize": 5})).json()
    proof = [base64.b64decode(p) for p in answer["proof"]]
    assert (answer["index"], answer["treeSize"]) == (3, 5)
    assert merkle.verify_inclusion(merkle.leaf_hash(b"r3"), 3, 5, proof, first.root)

    async with sessions() as session:
        for i in range(5, 11):
            await log.queue_leaf(session, f"r{i}".encode())
        await log.integrate(session, SIGNER)
    second = _head((await client.get("/records/log/head")).json())
    answer = (await client.get("/records/log/proof/consistency", params={"first": 5, "second": 11})).json()
    assert check_refresh(first, second, [base64.b64decode(p) for p in answer["proof"]],
                         SIGNER.public_keys()) == second


async def test_bad_or_uncovered_parameters_are_problems_not_errors(portal: Portal, engine: AsyncEngine) -> None:
    async with create_session_factory(engine)() as session:
        await log.queue_leaf(session, b"r0")
        await log.integrate(session, SIGNER)
    cases = [
        ("/records/log/proof/inclusion", {"index": "0"}, 400, "BAD_USER_INPUT", "treeSize"),
        ("/records/log/proof/inclusion", {"index": "-1", "treeSize": "1"}, 400, "BAD_USER_INPUT", "index"),
        ("/records/log/proof/inclusion", {"index": "0", "treeSize": "9" * 30}, 400, "BAD_USER_INPUT", "treeSize"),
        ("/records/log/proof/inclusion", {"index": "٣", "treeSize": "1"}, 400, "BAD_USER_INPUT", "index"),
        ("/records/log/proof/inclusion", {"index": "0", "treeSize": "2"}, 400, "VALUE_OUT_OF_RANGE", "treeSize"),
        ("/records/log/proof/inclusion", {"index": "1", "treeSize": "1"}, 400, "VALUE_OUT_OF_RANGE", "index"),
        ("/records/log/proof/inclusion", {"index": "0", "treeSize": str((1 << 63) - 1)}, 400,
         "VALUE_OUT_OF_RANGE", "treeSize"),
        ("/records/log/proof/consistency", {"first": "2", "second": "1"}, 400, "VALUE_OUT_OF_RANGE", "size1"),
        ("/records/log/proof/consistency", {"first": "1", "second": "5"}, 400, "VALUE_OUT_OF_RANGE", "size2"),
    ]
    for path, params, status, code, field in cases:
        response = await portal.client.get(path, params=params)
        assert (response.status_code, response.json()["code"], response.json().get("field")) == (status, code, field)
    ok = await portal.client.get("/records/log/proof/consistency", params={"first": "0", "second": "1"})
    assert (ok.status_code, ok.json()["proof"]) == (200, [])
