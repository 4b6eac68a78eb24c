"""The kiosk client's protocol constant and message match the server's (end to end: test_commands.py)."""

from __future__ import annotations

from api.identity import challenges
from nfc_bridge.portal import kiosk


def test_the_login_message_is_the_servers() -> None:
    assert kiosk.LOGIN_CONTEXT == challenges.LOGIN_CONTEXT
    nonce = bytes(range(32))
    assert kiosk.login_message("kiosk:E2E-1", nonce) == challenges.login_message("kiosk:E2E-1", nonce)
    assert kiosk.login_message("k", b"n") == b"mynaportal-login-v1\x00\x01kn"
