"""The identity routes' OAuth forms: text that cannot be stored is an OAuth error, never a database error."""

from __future__ import annotations

import gc

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


@pytest.mark.parametrize(("content_type", "body", "detail"), [
    ("multipart/form-data", b"x", "Missing boundary in multipart."),
    ("application/x-www-form-urlencoded", b"&".join(b"f%d=1" % i for i in range(1001)),
     "Too many fields. Maximum number of fields is 1000."),
])
@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/device_authorization"])
async def test_a_form_the_parser_refuses_is_an_oauth_invalid_request(
    identity: IdentityPortal, path: str, content_type: str, body: bytes, detail: str
) -> None:
    response = await identity.portal.client.post(path, content=body, headers={"content-type": content_type})
    assert (response.status_code, response.headers["content-type"]) == (400, "application/json")
    assert response.json() == {"error": "invalid_request", "error_description": f"The form cannot be read: {detail}"}


async def test_an_uploaded_file_in_the_form_is_closed_and_ignored(identity: IdentityPortal) -> None:
    # An unclosed upload leaks a temporary file (pytest turns its ResourceWarning into an error).
    body = (b'--b\r\nContent-Disposition: form-data; name="client_id"; filename="a"\r\n\r\ntv-app\r\n--b--\r\n')
    response = await identity.portal.client.post("/oauth/device_authorization", content=body,
                                                 headers={"content-type": "multipart/form-data; boundary=b"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    gc.collect()
