"""RFC 8291 message encryption (aes128gcm, RFC 8188) on ``cryptography``'s primitives, and decryption for
the local push service (checked against http_ece, pywebpush's implementation, in the tests).

Every message gets a fresh ephemeral key and salt (RFC 8291 §3.4): nothing is encrypted once for many.
"""

from __future__ import annotations

import base64
import hmac
import os
import struct
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RECORD_SIZE = 4096
MAX_PLAINTEXT = 3993  # one 4096-byte record: − 86 header − 16 tag − 1 delimiter


class InvalidSubscriptionKeys(ValueError):
    """p256dh is not an uncompressed P-256 point or auth is not 16 bytes."""


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# One sender key per message (RFC 8291 §3.4 forbids reuse); what is the subscriber's alone is kept per subscriber.
_RECEIVERS = 4096


@lru_cache(maxsize=_RECEIVERS)
def _receiver(p256dh: str, auth: str) -> tuple[ec.EllipticCurvePublicKey, bytes, bytes]:
    """The subscriber's public key (parsed once: a point check costs as much as an ECDH), its raw bytes and the
    auth secret."""
    public_bytes, secret = b64url_decode(p256dh), b64url_decode(auth)
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_bytes), public_bytes, secret


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def encrypt(plaintext: bytes, *, endpoint: str, p256dh: str, auth: str) -> bytes:
    """RFC 8291 (aes128gcm, one record): a fresh ephemeral key and salt per message.

    Written on ``cryptography``'s primitives rather than through ``webpush`` (1.8× pywebpush's cost per message,
    tests/benchmarks/bench_notices.py): the HKDF steps are single-block HMACs, the subscriber's key is parsed
    once. ``decrypt`` below and http_ece (pywebpush's) check every message in tests/push/test_encryption.py.
    """
    del endpoint  # part of the signature for callers; the encryption does not depend on it
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"a push payload holds at most {MAX_PLAINTEXT} bytes")
    receiver, receiver_bytes, secret = _receiver(p256dh, auth)
    sender = ec.generate_private_key(ec.SECP256R1())
    sender_bytes = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = sender.exchange(ec.ECDH(), receiver)
    # HKDF (RFC 5869) with outputs of at most 32 bytes is one extract and one expand block each.
    ikm = _hmac(_hmac(secret, shared), b"WebPush: info\x00" + receiver_bytes + sender_bytes + b"\x01")
    salt = os.urandom(16)
    prk = _hmac(salt, ikm)
    key = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    ciphertext = AESGCM(key).encrypt(nonce, plaintext + b"\x02", None)
    return salt + struct.pack("!LB", RECORD_SIZE, len(sender_bytes)) + sender_bytes + ciphertext


def validate_keys(p256dh: bytes, auth: bytes) -> None:
    if len(auth) != 16:
        raise InvalidSubscriptionKeys("auth must be 16 bytes")
    if len(p256dh) != 65 or p256dh[0] != 4:
        raise InvalidSubscriptionKeys("p256dh must be an uncompressed P-256 point (65 bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError as error:
        raise InvalidSubscriptionKeys("p256dh is not a point on P-256") from error


def _hkdf(salt: bytes, info: bytes, length: int, secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def decrypt(body: bytes, *, receiver: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """The user agent's side of RFC 8291 (a single record)."""
    salt, record_size, id_length = body[:16], struct.unpack("!L", body[16:20])[0], body[20]
    sender_public = body[21:21 + id_length]
    ciphertext = body[21 + id_length:]
    if id_length != 65 or record_size < 18 or len(ciphertext) > record_size:
        raise ValueError("not a single aes128gcm record with a P-256 key id")
    receiver_public = receiver.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = receiver.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                                                        sender_public))
    ikm = _hkdf(auth, b"WebPush: info\x00" + receiver_public + sender_public, 32, shared)
    key = _hkdf(salt, b"Content-Encoding: aes128gcm\x00", 16, ikm)
    nonce = _hkdf(salt, b"Content-Encoding: nonce\x00", 12, ikm)
    padded = AESGCM(key).decrypt(nonce, ciphertext, None)
    plaintext = padded.rstrip(b"\x00")
    if not plaintext.endswith(b"\x02"):  # the last record's delimiter
        raise ValueError("bad padding delimiter")
    return plaintext[:-1]
