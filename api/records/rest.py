"""Public read routes of the records log, for auditors and monitors (no personal data: hashes and heads only).

GET /records/log/keys                                   the tree-head public keys by generation
GET /records/log/head                                   the latest signed tree head
GET /records/log/proof/inclusion?index=I&treeSize=N     the audit path of leaf I in the tree of N leaves
GET /records/log/proof/consistency?first=M&second=N     the proof that the tree of N extends the tree of M

Hashes and signatures are base64. Errors are RFC 9457 problems with a stable code.
"""

from __future__ import annotations

import base64

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from api.platform.db import read_only_factory
from api.platform.errors import ErrorCode, PortalError, answering_problems
from api.platform.settings import Settings
from api.platform.text import check_params
from api.records import log
from api.records.client import LOG_ORIGIN
from api.records.signing import LogSigner, LogSigningUnavailable

MAX_SIZE = (1 << 63) - 1


def _size(request: Request, name: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_SIZE:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} must be a whole number from 0.",
                          extensions={"field": name})
    return int(raw)


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(value).decode() for value in values]


def routes(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> list[BaseRoute]:
    reads = read_only_factory(session_factory)
    try:
        keys = LogSigner.from_settings(settings).public_keys()
    except LogSigningUnavailable:
        keys = {}  # production without keys: nothing is signed, nothing to publish

    async def public_keys(_: Request) -> JSONResponse:
        return JSONResponse({"origin": LOG_ORIGIN, "keys": [
            {"generation": generation, "algorithm": "Ed25519", "publicKey": base64.b64encode(key).decode()}
            for generation, key in sorted(keys.items(), reverse=True)]})

    async def head(request: Request) -> JSONResponse:
        check_params(request.query_params)
        async with reads() as session:
            latest = await log.latest_tree_head(session)
        if latest is None:
            raise PortalError(ErrorCode.NOT_FOUND, "The log holds no signed tree head yet.")
        return JSONResponse(latest.as_json())

    async def inclusion(request: Request) -> JSONResponse:
        check_params(request.query_params)
        index, tree_size = _size(request, "index"), _size(request, "treeSize")
        async with reads() as session:
            proof = await log.inclusion_proof(session, index, tree_size)
        return JSONResponse({"index": index, "treeSize": tree_size, "proof": _b64(proof)})

    async def consistency(request: Request) -> JSONResponse:
        check_params(request.query_params)
        first, second = _size(request, "first"), _size(request, "second")
        async with reads() as session:
            proof = await log.consistency_proof(session, first, second)
        return JSONResponse({"first": first, "second": second, "proof": _b64(proof)})

    return [
        Route("/records/log/keys", answering_problems(public_keys), methods=["GET"]),
        Route("/records/log/head", answering_problems(head), methods=["GET"]),
        Route("/records/log/proof/inclusion", answering_problems(inclusion), methods=["GET"]),
        Route("/records/log/proof/consistency", answering_problems(consistency), methods=["GET"]),
    ]
