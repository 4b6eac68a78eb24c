"""The browser's session: one signed cookie (HttpOnly, SameSite=Lax, Secure outside development).

It holds the session's bearer token (the same kind the apps use, so sign-out and revocation end it at once),
its refresh token, the form token against cross-site requests, and a login in progress (challenge id or device
code). Signed, not encrypted: it holds nothing its owner may not see; whoever lacks the key cannot forge one.
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
MAX_COOKIE = 3000  # bytes of the cookie's value: more is not ours


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
    """``name``/``path``: the person's cookie is ``mp_web`` on /; the municipal staff's ``mp_staff`` on /web/staff
    (another key derived for it, so neither cookie can stand in for the other)."""

    def __init__(self, key: bytes, *, secure: bool, name: str = COOKIE, path: str = "/",
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
