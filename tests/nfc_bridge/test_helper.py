"""`myna-bridge serve` without a card: who may ask it, the preflight, and refusals (the card paths run in
tests/web with the virtual card behind pcscd)."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from nfc_bridge.card_access import PinSource
from nfc_bridge.helper import AUTHENTICATE, MAX_DOCUMENT, SIGN, STATUS, HelperServer, describe, signed_data

ORIGIN = "https://portal.example"


@pytest.fixture
def helper() -> Iterator[str]:
    args = argparse.Namespace(reader="no such reader", nfc=None, extended=False)
    server = HelperServer(0, frozenset({ORIGIN}), args, PinSource(from_stdin=True))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_what_is_signed_binds_the_origin_and_the_challenge() -> None:
    data = signed_data(ORIGIN, "challenge")
    assert data == hashlib.sha256(ORIGIN.encode()).digest() + hashlib.sha256(b"challenge").digest()
    assert signed_data("https://portal.example.evil", "challenge") != data


def test_the_preflight_is_answered_for_allowed_origins_only(helper: str) -> None:
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Private-Network": "true",
             "Access-Control-Request-Local-Network": "true"}
    allowed = httpx.options(helper + AUTHENTICATE, headers={"Origin": ORIGIN, **asked})
    assert allowed.status_code == 204
    assert (allowed.headers["access-control-allow-origin"], allowed.headers["access-control-allow-private-network"],
            allowed.headers["access-control-allow-local-network"]) == (ORIGIN, "true", "true")
    other = httpx.options(helper + AUTHENTICATE, headers={"Origin": "https://elsewhere.example", **asked})
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-private-network" not in other.headers


def test_status_and_sign_refuse_other_origins_and_other_hosts(helper: str) -> None:
    assert httpx.get(helper + STATUS, headers={"Origin": ORIGIN}).json() == {"version": "1.0",
                                                                             "format": "web-eid:1.0"}
    assert httpx.get(helper + STATUS).status_code == 403  # no Origin: not a page
    posted = httpx.post(helper + AUTHENTICATE, headers={"Origin": "https://elsewhere.example"},
                        json={"challenge": "A" * 43})
    assert (posted.status_code, posted.json()["code"]) == (403, "ORIGIN_NOT_ALLOWED")
    rebound = httpx.post(helper + AUTHENTICATE, headers={"Origin": ORIGIN, "Host": "attacker.example"},
                         json={"challenge": "A" * 43})
    assert rebound.status_code == 403


def test_a_bad_challenge_and_a_missing_card_get_clear_answers(helper: str) -> None:
    bad = httpx.post(helper + AUTHENTICATE, headers={"Origin": ORIGIN}, json={"challenge": "short"})
    assert (bad.status_code, bad.json()["code"]) == (400, "BAD_CHALLENGE")
    no_card = httpx.post(helper + AUTHENTICATE, headers={"Origin": ORIGIN}, json={"challenge": "A" * 43})
    assert (no_card.status_code, no_card.json()["code"]) == (503, "CARD_UNAVAILABLE")
    assert no_card.headers["access-control-allow-origin"] == ORIGIN


def _document(**changes: object) -> bytes:
    return json.dumps({"format": "mynaportal-application/1", "procedure": "child_allowance_claim", "formVersion": 1,
                       "municipality": "131016", "applicant": {"name": "山田 太郎"},
                       "subject": {"name": "山田 一郎"}, **changes}, ensure_ascii=False).encode()


def test_what_the_person_is_shown_before_signing_an_application() -> None:
    document = _document()
    assert describe(document) == (
        "application child_allowance_claim (form 1) to municipality 131016\n  applicant: 山田 太郎  for: 山田 一郎\n"
        f"  SHA-256: {hashlib.sha256(document).hexdigest()}")
    with pytest.raises(ValueError):
        describe(_document(format="something-else/1"))  # the helper signs only documents it can show
    with pytest.raises(ValueError):
        describe(b"\x30\x82")  # a bare digest or other bytes


def test_signing_refuses_other_origins_unreadable_documents_and_answers_a_missing_card(helper: str) -> None:
    document = base64.b64encode(_document()).decode()
    other = httpx.post(helper + SIGN, headers={"Origin": "https://elsewhere.example"}, json={"document": document})
    assert (other.status_code, other.json()["code"]) == (403, "ORIGIN_NOT_ALLOWED")
    assert "access-control-allow-origin" not in other.headers
    preflight = httpx.options(helper + SIGN, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert (preflight.status_code, preflight.headers["access-control-allow-origin"]) == (204, ORIGIN)
    for body in ({"document": "not base64!"}, {"document": base64.b64encode(b"A" * 32).decode()},
                 {"digest": "00" * 32}, {"document": base64.b64encode(b"{" * (MAX_DOCUMENT + 1)).decode()}):
        bad = httpx.post(helper + SIGN, headers={"Origin": ORIGIN}, json=body)
        assert (bad.status_code, bad.json()["code"]) == (400, "BAD_DOCUMENT"), body
    no_card = httpx.post(helper + SIGN, headers={"Origin": ORIGIN}, json={"document": document})
    assert (no_card.status_code, no_card.json()["code"]) == (503, "CARD_UNAVAILABLE")
