"""Load shedding: past the concurrency limit a worker answers 503 with Retry-After at once, never queueing."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.platform.shedding import LoadSheddingMiddleware


def _app(release: asyncio.Event, started: asyncio.Queue[str]) -> tuple[Starlette, LoadSheddingMiddleware]:
    async def slow(request: Request) -> JSONResponse:
        await started.put(request.url.path)
        await release.wait()
        return JSONResponse({"ok": True})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/slow", slow), Route("/graphql", slow, methods=["POST"]),
                            Route("/healthz", health)])
    shedding = LoadSheddingMiddleware(app, max_concurrency=2)
    return app, shedding


async def test_past_the_limit_requests_get_503_with_retry_after_at_once() -> None:
    release, started = asyncio.Event(), asyncio.Queue()
    _, shedding = _app(release, started)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=shedding), base_url="http://portal.test") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        for _ in range(2):
            await asyncio.wait_for(started.get(), 5)
        assert shedding.in_progress == 2
        refused = await asyncio.wait_for(client.get("/slow"), 5)  # answered while the two still run
        assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json() == {"type": "https://mynaportal.example/problems/overloaded", "title": "Overloaded",
                                  "status": 503, "detail": "The portal is busy; retry after the time in Retry-After.",
                                  "code": "OVERLOADED", "retryAfter": 1}
        graphql = await client.post("/graphql", json={"query": "{ viewer { name } }"})
        assert graphql.status_code == 503
        assert graphql.json() == {"errors": [{"message": "The portal is busy; retry after the time in Retry-After.",
                                              "extensions": {"code": "OVERLOADED", "retryAfter": 1}}]}
        assert (await client.get("/healthz")).status_code == 200  # health checks are never shed
        assert started.empty()  # no refused request reached a handler
        release.set()
        assert [answer.status_code for answer in await asyncio.gather(*held)] == [200, 200]
        assert shedding.in_progress == 0 and shedding.shed == 2
        assert (await client.get("/slow")).status_code == 200


async def test_zero_means_no_limit() -> None:
    release, started = asyncio.Event(), asyncio.Queue()
    app, _ = _app(release, started)
    unlimited = LoadSheddingMiddleware(app, max_concurrency=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=unlimited), base_url="http://portal.test") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(5)]
        for _ in range(5):
            await asyncio.wait_for(started.get(), 5)
        release.set()
        assert [answer.status_code for answer in await asyncio.gather(*held)] == [200] * 5
