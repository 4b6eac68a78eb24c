"""The browser's two cookies (HttpOnly, SameSite=Lax, Secure outside development).

``mp_web`` (path /, where the signed cookie of that name which held the tokens was: it replaces that one): a
signed-in person's session, kept on the server (api.identity.web_sessions); the cookie holds only its opaque
random id, never a token. ``mp_web_login`` (path /web): what a browser holds before and between sign-ins, signed:
the form token against cross-site requests, a login in progress (challenge id or device code) and a shared
terminal's id (which outlives each sign-in). Signed, not encrypted: it holds nothing its owner may not see;
whoever lacks the key cannot forge one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "mp_web"
LOGIN_COOKIE = "mp_web_login"
PATH = "/web"  # the login cookie's
SESSION_PATH = "/"
MAX_COOKIE = 3000  # bytes of the cookie's value: more is not ours


def set_session_cookie(response: Response, session_id: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE, session_id, path=SESSION_PATH, httponly=True, secure=secure, samesite="lax")


def delete_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=SESSION_PATH, httponly=True, secure=secure, samesite="lax")


@dataclass
class WebSession:
    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        if self.data.get(key) != value:
            self.data[key] = value
            self.changed = True

    def pop(self, key: str) -> Any:
        if key in self.data:
            self.changed = True
        return self.data.pop(key, None)

    @property
    def csrf(self) -> str:
        """The form token of this browser (made on first use)."""
        if not self.data.get("csrf"):
            self.set("csrf", secrets.token_urlsafe(24))
        return str(self.data["csrf"])

    def check_csrf(self, sent: str | None) -> bool:
        mine = self.data.get("csrf")
        # As bytes: compare_digest refuses str with non-ASCII characters (a forged token may have them).
        return bool(mine and sent) and hmac.compare_digest(str(mine).encode(), str(sent).encode())

    def clear(self) -> None:
        """Signed out: keep nothing but a fresh form token (and a shared terminal's id: it stays one)."""
        terminal = self.data.get("terminal")
        self.data = {"csrf": secrets.token_urlsafe(24), **({"terminal": terminal} if terminal else {})}
        self.changed = True


class CookieCodec:
    """``name``/``path``: the person's is ``mp_web_login`` on /web; the municipal staff's sign-in form's
    ``mp_staff_login`` on /web/staff/login (another key derived for it, so neither can stand in for the other)."""

    def __init__(self, key: bytes, *, secure: bool, name: str = LOGIN_COOKIE, path: str = PATH,
                 samesite: str = "lax") -> None:
        self.key = key
        self.secure = secure
        self.name = name
        self.path = path
        self.samesite = samesite

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, payload, hashlib.sha256).digest()).rstrip(b"=").decode()

    def load(self, request: Request) -> WebSession:
        raw = request.cookies.get(self.name, "")
        if not raw or len(raw) > MAX_COOKIE or "." not in raw:
            return WebSession()
        body, signature = raw.rsplit(".", 1)
        if not hmac.compare_digest(self._sign(body.encode()), signature):
            return WebSession()
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            return WebSession()
        return WebSession(data if isinstance(data, dict) else {})

    def store(self, session: WebSession, response: Response) -> None:
        if not session.changed:
            return
        body = base64.urlsafe_b64encode(json.dumps(session.data, separators=(",", ":")).encode()).rstrip(b"=")
        response.set_cookie(self.name, f"{body.decode()}.{self._sign(body)}", path=self.path, httponly=True,
                            secure=self.secure, samesite=self.samesite)  # type: ignore[arg-type]


async def sent_form_token(request: Request) -> str | None:
    """The form token a POST carries: the page's script sends it as X-CSRF-Token, a plain form as its csrf field.

    The form is not closed here: the handler reads the same (cached) form, its files included, and closes it."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        try:
            sent = str((await request.form()).get("csrf", ""))
        except Exception:  # an unreadable form has no valid token
            sent = None
    return sent
