from __future__ import annotations

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from push.encryption import InvalidSubscriptionKeys, decrypt, encrypt, validate_keys
from push.vapid import b64url

ENDPOINT = "https://push.example/abc"


def receiver() -> tuple[ec.EllipticCurvePrivateKey, bytes, str, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    auth = bytes(range(16))
    public = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return private, auth, b64url(public), b64url(auth)


def test_a_message_decrypts_with_the_subscribers_keys_and_http_ece_agrees() -> None:
    private, auth, p256dh, auth_b64 = receiver()
    body = encrypt(b'{"notice":"n"}', endpoint=ENDPOINT, p256dh=p256dh, auth=auth_b64)
    assert decrypt(body, receiver=private, auth=auth) == b'{"notice":"n"}'
    assert http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm") == b'{"notice":"n"}'


def test_every_message_has_its_own_salt_and_key() -> None:
    _, _, p256dh, auth_b64 = receiver()
    first, second = (encrypt(b"same", endpoint=ENDPOINT, p256dh=p256dh, auth=auth_b64) for _ in range(2))
    assert first[:16] != second[:16] and first[21:86] != second[21:86]


def test_a_payload_over_one_record_is_refused() -> None:
    _, _, p256dh, auth_b64 = receiver()
    with pytest.raises(ValueError, match="3993"):
        encrypt(b"x" * 3994, endpoint=ENDPOINT, p256dh=p256dh, auth=auth_b64)


@pytest.mark.parametrize(("_case", "p256dh", "auth"), [
    ("short auth", b"\x04" + b"\x01" * 64, b"a" * 15),
    ("compressed point", b"\x02" + b"\x01" * 32, b"a" * 16),
    ("not on the curve", b"\x04" + b"\x01" * 64, b"a" * 16),
])
def test_bad_subscription_keys_are_refused(_case: str, p256dh: bytes, auth: bytes) -> None:
    with pytest.raises(InvalidSubscriptionKeys):
        validate_keys(p256dh, auth)
