"""Every REST route of the app is in an OpenAPI document, every documented path is a route, and the app serves
the documents (tests/fuzz runs schemathesis over them)."""

from __future__ import annotations

import pytest
import schemathesis
from starlette.responses import Response
from starlette.routing import Mount, Route

from api.app import create_app
from api.openapi import DOCUMENTS, documented_operations, route_operations
from api.platform.errors import PROBLEM_MEDIA_TYPE
from tests.api.conftest import Portal
from tests.conftest import make_settings


def _app_operations() -> set[tuple[str, str]]:
    app = create_app(make_settings(), owns_process=False)
    return route_operations(app.routes)


def test_every_route_is_documented_and_every_documented_operation_is_a_route() -> None:
    routes, documented = _app_operations(), set(documented_operations())
    assert routes - documented == set(), "routes missing from the OpenAPI documents (api/openapi.py)"
    assert documented - routes == set(), "documented operations the app does not serve"
    # the surfaces the issue names, each in its document
    names = documented_operations()
    assert names[("POST", "/payments/v1/orders")] == "payments"
    assert names[("POST", "/payments/gateway/notifications")] == "payments"
    assert names[("POST", "/oauth/token")] == names[("GET", "/pki/crl/{issuer}.crl")] == "identity"
    assert names[("GET", "/corporate/4/name")] == "corporate"
    assert names[("POST", "/oidc/par")] == names[("GET", "/oidc/authorize")] == "oidc"


def test_a_route_added_without_a_document_is_found() -> None:
    async def secret(_: object) -> Response:
        return Response()

    app = create_app(make_settings(), owns_process=False)
    app.router.routes.append(Mount("/payments", routes=[Route("/v1/secret", secret, methods=["DELETE"]),
                                                         Route("/v1/orders/{order_id:path}/lines", secret)]))
    missing = route_operations(app.routes) - set(documented_operations())
    assert missing == {("DELETE", "/payments/v1/secret"), ("GET", "/payments/v1/orders/{order_id}/lines")}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_each_document_is_valid_openapi_3_1(name: str) -> None:
    document = DOCUMENTS[name]()
    assert document["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(1 for _, doc in documented_operations().items() if doc == name)


async def test_the_app_serves_the_documents(portal: Portal) -> None:
    for name, build in DOCUMENTS.items():
        response = await portal.client.get(f"/openapi/{name}.json")
        assert (response.status_code, response.json()) == (200, build())
    missing = await portal.client.get("/openapi/nothing.json")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert missing.json()["code"] == "NOT_FOUND"
