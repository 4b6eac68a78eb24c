"""The identity HTTP endpoints refuse text the database cannot hold (found by tests/fuzz): RFC 6749 errors."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.identity.login_models import DeviceAuthorization
from tests.api.identity.conftest import IdentityPortal


@pytest.mark.parametrize(("form", "description"), [
    ({"client_id": "tv\x00app"}, "client_id must not contain NUL."),  # PostgreSQL: DataError, a 500
    ({"client_id": "tv-app", "scope": "notices:read\x00"}, "scope must not contain NUL."),
    ({"client_id": "x" * 101}, "client_id must be at most 100 characters."),
    ({}, "client_id must be a string."),
])
async def test_a_device_authorization_with_bad_text_is_an_invalid_request(
    identity: IdentityPortal, form: dict, description: str
) -> None:
    response = await identity.portal.client.post("/oauth/device_authorization", data=form)
    assert (response.status_code, response.json()) == (400, {"error": "invalid_request",
                                                             "error_description": description})
    async with identity.portal.app.state.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(DeviceAuthorization)) == 0
