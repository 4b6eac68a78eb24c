from __future__ import annotations

import pytest

from api.platform.webhooks import (
    DestinationRefused,
    ReplayGuard,
    WebhookVerificationError,
    check_destination,
    new_secret,
    sign_headers,
    signature,
    verify_webhook,
)

BODY = b'{"type":"notice.published"}'
NOW = 1_780_000_000


def test_a_signed_request_verifies_once() -> None:
    secret = new_secret()
    headers = sign_headers(secret, "msg_1", BODY, timestamp=NOW)
    guard = ReplayGuard()
    assert verify_webhook(secret, headers, BODY, replay_guard=guard, now=NOW + 10) == "msg_1"
    with pytest.raises(WebhookVerificationError, match="already received"):
        verify_webhook(secret, headers, BODY, replay_guard=guard, now=NOW + 11)


@pytest.mark.parametrize(("_case", "change"), [
    ("other secret", lambda h, b: (h, b, new_secret())),
    ("tampered body", lambda h, b: (h, b + b" ", None)),
    ("other id", lambda h, b: ({**h, "webhook-id": "msg_2"}, b, None)),
    ("stale", lambda h, b: ({**h, "webhook-timestamp": str(NOW - 301)}, b, None)),
    ("no signature", lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b, None)),
])
def test_forged_or_stale_requests_are_rejected_and_do_not_burn_the_id(_case: str, change: object) -> None:
    secret = new_secret()
    headers = sign_headers(secret, "msg_1", BODY, timestamp=NOW)
    forged_headers, forged_body, other_secret = change(headers, BODY)  # type: ignore[operator]
    guard = ReplayGuard()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(other_secret or secret, forged_headers, forged_body, replay_guard=guard, now=NOW)
    assert verify_webhook(secret, headers, BODY, replay_guard=guard, now=NOW) == "msg_1"


def test_rotation_accepts_any_listed_signature() -> None:
    old, new = new_secret(), new_secret()
    headers = sign_headers(new, "msg_1", BODY, timestamp=NOW)
    headers["webhook-signature"] = sign_headers(old, "msg_1", BODY, timestamp=NOW)["webhook-signature"] + " " + \
        headers["webhook-signature"]
    assert verify_webhook(old, headers, BODY, replay_guard=ReplayGuard(), now=NOW) == "msg_1"


def test_a_message_is_signed_with_every_active_secret_during_a_rotation() -> None:
    old, new, other = new_secret(), new_secret(), new_secret()
    headers = sign_headers([new, old], "msg_1", BODY, timestamp=NOW)
    assert headers["webhook-signature"] == (f"{signature(new, 'msg_1', NOW, BODY)} "
                                            f"{signature(old, 'msg_1', NOW, BODY)}")
    # A receiver still on the old secret, one already on the new, and one holding both all accept it.
    for held in (old, new, [other, old]):
        assert verify_webhook(held, headers, BODY, replay_guard=None, now=NOW) == "msg_1"
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify_webhook([other], headers, BODY, replay_guard=None, now=NOW)
    with pytest.raises(ValueError, match="at least one secret"):
        sign_headers([], "msg_1", BODY)


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://[::1]/hook",
                                 "https://169.254.169.254/latest", "https://localhost/hook",
                                 "http://mypost.example/hook"])
async def test_production_refuses_private_loopback_and_plain_http(url: str) -> None:
    with pytest.raises(DestinationRefused):
        await check_destination(url, allow_private=False)


async def test_development_allows_loopback() -> None:
    await check_destination("http://127.0.0.1:9000/hook", allow_private=True)
    await check_destination("https://93.184.215.14/hook", allow_private=False)


def test_the_standard_webhooks_reference_vector() -> None:
    # The example in the Standard Webhooks specification.
    assert signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                     b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(("_case", "body", "timestamp"), [
    ("other body", b"{}", NOW), ("too old", BODY, NOW - 301), ("from the future", BODY, NOW + 301)])
def test_a_plain_shared_secret_works_and_is_checked_the_same_way(_case: str, body: bytes, timestamp: int) -> None:
    headers = sign_headers("secret-0123456789", "msg_1", BODY, timestamp=NOW)
    assert verify_webhook("secret-0123456789", headers, BODY, replay_guard=None, now=NOW) == "msg_1"
    stale = sign_headers("secret-0123456789", "msg_1", BODY, timestamp=timestamp)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("secret-0123456789", stale if body == BODY else headers, body, replay_guard=None, now=NOW)


def test_without_a_guard_a_repeat_verifies_again() -> None:
    secret = new_secret()
    headers = sign_headers(secret, "msg_1", BODY, timestamp=NOW)
    assert [verify_webhook(secret, headers, BODY, replay_guard=None, now=NOW) for _ in range(2)] == ["msg_1"] * 2
