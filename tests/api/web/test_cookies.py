"""The browser's signed login cookie (form token, a login in progress, a shared terminal's id) and the session
cookie, which holds only the server-side session's id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.web.cookies import (
    COOKIE,
    LOGIN_COOKIE,
    CookieCodec,
    WebSession,
    delete_session_cookie,
    set_session_cookie,
)


def _request(cookie: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", cookie.encode())]})


def test_a_stored_login_cookie_loads_back_and_a_tampered_one_is_empty() -> None:
    codec = CookieCodec(b"k" * 32, secure=True)
    session = WebSession()
    session.set("challenge", "c1")
    response = Response()
    codec.store(session, response)
    header = response.headers["set-cookie"]
    assert header.startswith(f"{LOGIN_COOKIE}=")
    assert "HttpOnly" in header and "Secure" in header and "SameSite=lax" in header and "Path=/web" in header
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert codec.load(_request(f"{LOGIN_COOKIE}={value}")).get("challenge") == "c1"
    body, signature = value.rsplit(".", 1)
    assert codec.load(_request(f"{LOGIN_COOKIE}={body}x.{signature}")).data == {}
    assert CookieCodec(b"o" * 32, secure=True).load(_request(f"{LOGIN_COOKIE}={value}")).data == {}
    assert codec.load(_request(f"{COOKIE}={value}")).data == {}  # the session cookie's name: not this one


def test_an_unchanged_login_cookie_is_not_sent_again() -> None:
    response = Response()
    CookieCodec(b"k" * 32, secure=True).store(WebSession({"csrf": "x"}), response)
    assert "set-cookie" not in response.headers


def test_the_session_cookie_holds_the_id_and_is_deleted_alike() -> None:
    response = Response()
    set_session_cookie(response, "opaque-id", secure=False)
    assert response.headers["set-cookie"] == f"{COOKIE}=opaque-id; HttpOnly; Path=/; SameSite=lax"
    gone = Response()
    delete_session_cookie(gone, secure=True)
    header = gone.headers["set-cookie"]
    assert header.startswith(f'{COOKIE}=""; ') and "Max-Age=0" in header and "Path=/;" in header
    assert "Secure" in header and "HttpOnly" in header


def test_the_form_token_matches_only_itself() -> None:
    session = WebSession()
    token = session.csrf
    assert session.check_csrf(token) is True
    assert session.check_csrf(None) is False
    assert session.check_csrf("ÿ" * len(token)) is False  # non-ASCII: no TypeError, a refusal
    session.set("terminal", "t1")
    session.clear()
    assert session.check_csrf(token) is False and session.get("terminal") == "t1"
