from __future__ import annotations

import functools
import logging

import httpx
import pytest
from starlette.routing import Route

from api.app import create_app
from api.migrate import MIGRATIONS
from api.platform.db import create_engine, dispose_engine
from api.platform.logs import REDACTED
from tests.api.conftest import Portal, running_portal
from tests.benchmarks.bench_edge_memory import measure
from tests.conftest import make_settings
from tests.log_guard import demo_numbers_in


async def test_healthz(portal: Portal) -> None:
    response = await portal.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_the_migrated_database(portal: Portal) -> None:
    response = await portal.client.get("/readyz")
    head = (MIGRATIONS / ".current-alembic-head").read_text().strip()  # the latest migration, whichever it is
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok", "revision": head})


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


@pytest.mark.slow
def test_a_worker_flooded_with_documents_stays_bounded() -> None:
    # A real uvicorn worker (tests/benchmarks/bench_edge_memory.py prints the same figures). Before the body limit
    # and the byte-bounded document cache, 30 x 10 MiB took a worker from 107 MiB to 1,150 MiB.
    figures = measure(30)
    start = figures["start"]
    assert figures["after_over"] - start < 16  # refused from their Content-Length: never read
    assert set(figures["over_statuses"]) <= {413, "ReadError", "WriteError", "RemoteProtocolError"}
    assert set(figures["under_statuses"]) == {200}  # read, and answered (DOCUMENT_TOO_LONG)
    # 30 MiB in flight at once leaves the allocator's arenas larger; floods again stay within the same bound (how
    # much the arenas move between rounds depends on the machine's load: 0-33 MiB seen, so only the bound is tested).
    assert figures["after_under_1"] - start < 128
    assert figures["after_under_3"] - start < 128
    assert figures["after_cached"] - start < 128  # 300 distinct documents, kept up to the cache's bound


@pytest.mark.parametrize("path", ["/x/%20100000000021", "/x/%2520100000000021", "/x/1000%252D0000%252D0021",
                                  "/x/%25EF%25BC%2591000-0000-0021", "/x/%2531%2530%2530%253000000021"])
async def test_the_access_log_never_carries_a_number_however_it_is_spelled(
    portal: Portal, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        response = await portal.client.get(path)
    [line] = [record.getMessage() for record in caplog.records if record.name == "api.access"]
    assert line.startswith("GET /x/") and line.endswith(f"{REDACTED} {response.status_code}")
    assert demo_numbers_in(line) == []


async def test_the_access_log_names_the_route_not_the_path(portal: Portal, caplog: pytest.LogCaptureFixture) -> None:
    # A delivery service's one-time fetch link is a secret in the path: the log line shows the route's template.
    token = "dlv_" + "A" * 43
    with caplog.at_level(logging.INFO, logger="api.access"):
        response = await portal.client.post(f"/delivery/v1/documents/{token}")
    [line] = [record.getMessage() for record in caplog.records if record.name == "api.access"]
    assert line == f"POST /delivery/v1/documents/{{token}} {response.status_code}"
    assert response.status_code == 401 and token not in line


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


@pytest.fixture
async def tiny_pool_portal(engine, cipher, database_url: str, monkeypatch: pytest.MonkeyPatch):
    """The portal on a pool of one connection that is given up on after 0.2 s."""
    monkeypatch.setattr("api.app.create_engine",
                        functools.partial(create_engine, pool_size=1, max_overflow=0, pool_timeout=0.2))
    async with running_portal(engine, cipher, make_settings(database_url)) as portal:
        assert (portal.app.state.engine.pool.size(), portal.app.state.engine.pool.timeout()) == (1, 0.2)
        yield portal


async def test_an_exhausted_pool_is_a_503_with_retry_after_on_every_transport(tiny_pool_portal: Portal,
                                                                              caplog) -> None:
    portal = tiny_pool_portal
    agencies = {"query": "{ agencies(first: 1) { edges { node { slug } } } }"}
    held = await portal.app.state.engine.connect()  # the pool's only connection: every request waits for it
    try:
        with caplog.at_level(logging.WARNING):
            rest = await portal.client.get("/records/log/head")  # a route that answers its own problems
            unwrapped = await portal.client.get("/metrics")  # the app's handler
            graphql = await portal.client.post("/graphql", json=agencies)  # a resolver's session
            signed_in = await portal.post(agencies, token=portal.father_token)  # the token's lookup, before it
    finally:
        await held.close()
    problem = {"type": "https://mynaportal.example/problems/service-unavailable", "title": "Service unavailable",
               "status": 503, "detail": "The portal is busy; retry after the time in Retry-After.",
               "code": "SERVICE_UNAVAILABLE", "retryAfter": 1}
    for response in (rest, unwrapped):
        assert (response.status_code, response.headers["content-type"], response.headers["retry-after"],
                response.json()) == (503, "application/problem+json", "1", problem)
    assert (graphql.status_code, graphql.headers["retry-after"]) == (503, "1")
    assert graphql.json() == {"data": None, "errors": [{
        "message": "The portal is busy; retry after the time in Retry-After.", "path": ["agencies"],
        "locations": [{"line": 1, "column": 3}], "extensions": {"code": "SERVICE_UNAVAILABLE", "retryAfter": 1}}]}
    assert (signed_in.status_code, signed_in.headers["retry-after"], signed_in.json()) == (503, "1", {"errors": [{
        "message": "The portal is busy; retry after the time in Retry-After.",
        "extensions": {"code": "SERVICE_UNAVAILABLE", "retryAfter": 1}}]})
    # Logged as the load it is, without a traceback: no ERROR, nothing "unexpected".
    assert [record.levelname for record in caplog.records if record.name.startswith("api.")
            and record.levelno >= logging.WARNING] == ["WARNING"] * 4
    assert not any(record.exc_info for record in caplog.records)
    # The connection back, the same requests are served.
    again = await portal.client.post("/graphql", json=agencies)
    assert (again.status_code, "retry-after" in again.headers, again.json()) == (
        200, False, {"data": {"agencies": {"edges": [{"node": {"slug": "chiyoda-city"}}]}}})
    assert (await portal.client.get("/records/log/head")).status_code == 404  # no tree head yet: not a 503
