"""The browser's signed session cookie and its form token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.web.cookies import COOKIE, CookieCodec, WebSession


def _request(cookie: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", cookie.encode())]})


def test_a_stored_session_loads_back_and_a_tampered_one_is_empty() -> None:
    codec = CookieCodec(b"k" * 32, secure=True)
    session = WebSession()
    session.set("token", "mpt_abc")
    response = Response()
    codec.store(session, response)
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header and "Secure" in header and "SameSite=lax" in header
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert codec.load(_request(f"{COOKIE}={value}")).get("token") == "mpt_abc"
    body, signature = value.rsplit(".", 1)
    assert codec.load(_request(f"{COOKIE}={body}x.{signature}")).data == {}
    assert CookieCodec(b"o" * 32, secure=True).load(_request(f"{COOKIE}={value}")).data == {}


def test_the_form_token_matches_only_itself() -> None:
    session = WebSession()
    token = session.csrf
    assert session.check_csrf(token) is True
    assert session.check_csrf(None) is False
    assert session.check_csrf("ÿ" * len(token)) is False  # non-ASCII: no TypeError, a refusal
    session.set("terminal", "t1")
    session.clear()
    assert session.check_csrf(token) is False and session.get("terminal") == "t1"
