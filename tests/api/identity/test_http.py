"""The identity routes' OAuth forms: text that cannot be stored is an OAuth error, never a database error."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.identity.login_models import DeviceAuthorization
from api.platform.db import create_session_factory
from tests.api.identity.conftest import IdentityPortal

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.mark.parametrize(("path", "form"), [
    ("/oauth/device_authorization", {"client_id": "tv\x00app"}),
    ("/oauth/device_authorization", {"client_id": "tv-app", "scope": "notices:read\x00"}),
    ("/oauth/token", {"grant_type": DEVICE_GRANT, "device_code": "a\x00b", "client_id": "tv-app"}),
    ("/oauth/token", {"grant_type": "refresh_token", "refresh_token": "\x00"}),
])
async def test_a_form_with_a_nul_is_an_invalid_request(identity: IdentityPortal, path: str,
                                                       form: dict[str, str]) -> None:
    response = await identity.portal.client.post(path, data=form)
    assert (response.status_code, response.json()) == (400, {"error": "invalid_request",
                                                             "error_description": "A field is not valid text."})
    async with create_session_factory(identity.engine)() as session:
        assert await session.scalar(select(func.count()).select_from(DeviceAuthorization)) == 0
