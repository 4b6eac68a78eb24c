from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payments import webhooks

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
TS = int(NOW.timestamp())


def test_standard_webhooks_round_trip_and_rotation() -> None:
    body = b'{"type":"payment.succeeded"}'
    headers = webhooks.headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", TS, body)
    assert webhooks.verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", headers, body, now=NOW) == "msg_1"
    rotated = {**headers, "webhook-signature": "v1,b2xkIHNpZ25hdHVyZQ== " + headers["webhook-signature"]}
    assert webhooks.verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", rotated, body, now=NOW) == "msg_1"


def test_the_standard_webhooks_reference_vector() -> None:
    # From the Standard Webhooks specification's example.
    signature = webhooks.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                              b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(("_case", "body", "timestamp"), [
    ("other body", b"{}", TS), ("too old", b"x", TS - 301), ("from the future", b"x", TS + 301)])
def test_refused(_case: str, body: bytes, timestamp: int) -> None:
    headers = webhooks.headers("secret-0123456789", "msg_1", timestamp, b"x")
    with pytest.raises(webhooks.SignatureInvalid):
        webhooks.verify("secret-0123456789", headers, body, now=NOW)
