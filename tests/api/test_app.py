from __future__ import annotations

import httpx
from starlette.routing import Route

from api.app import create_app
from api.platform.db import dispose_engine
from tests.api.conftest import Portal
from tests.conftest import make_settings


async def test_healthz(portal: Portal) -> None:
    response = await portal.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_the_migrated_database(portal: Portal) -> None:
    response = await portal.client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok", "revision": "0010"})


async def test_readyz_is_unavailable_on_an_unmigrated_database(tmp_path) -> None:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"), owns_process=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")
    await dispose_engine(app.state.engine)
    assert (response.status_code, response.json()) == (503, {"status": "unavailable", "database": "unreachable"})


async def test_request_id_is_echoed_or_made(portal: Portal) -> None:
    given = await portal.client.get("/healthz", headers={"x-request-id": "phone-42.a"})
    assert given.headers["x-request-id"] == "phone-42.a"
    made = await portal.client.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert len(made.headers["x-request-id"]) == 32 and made.headers["x-request-id"] != "bad id with spaces"


async def test_the_router_answers_problems_for_unknown_paths_and_methods(portal: Portal) -> None:
    # a path parameter with a newline matches no route: found by tests/fuzz
    missing = await portal.client.get("/payments/v1/orders/a%0Ab")
    assert (missing.status_code, missing.headers["content-type"]) == (404, "application/problem+json")
    assert missing.json()["code"] == "NOT_FOUND"
    wrong = await portal.client.delete("/payments/v1/orders")
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, "application/problem+json")
    assert (wrong.json()["code"], wrong.headers["allow"]) == ("METHOD_NOT_ALLOWED", "POST")


async def test_an_unexpected_exception_is_a_problem_without_its_details() -> None:
    async def broken(_: object) -> None:
        raise RuntimeError("secret detail 123456789012")

    app = create_app(make_settings(), owns_process=False)
    app.router.routes.append(Route("/broken", broken))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://t") as client:
        response = await client.get("/broken")
    await dispose_engine(app.state.engine)
    assert (response.status_code, response.headers["content-type"]) == (500, "application/problem+json")
    assert response.json() == {"type": "https://mynaportal.example/problems/internal", "title": "Internal",
                               "status": 500, "detail": "Unexpected error.", "code": "INTERNAL"}
