"""RFC 8291 message encryption (aes128gcm, RFC 8188) with the ``webpush`` package, and decryption for
the local push service (written here with ``cryptography``, independently of the encrypting side).

Every message gets a fresh ephemeral key and salt (RFC 8291 §3.4): nothing is encrypted once for many.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from webpush import WebPush
from webpush.types import WebPushKeys, WebPushSubscription

MAX_PLAINTEXT = 3993  # one 4096-byte record: − 86 header − 16 tag − 1 delimiter


class InvalidSubscriptionKeys(ValueError):
    """p256dh is not an uncompressed P-256 point or auth is not 16 bytes."""


class _Encryptor(WebPush):
    """webpush's encryption step without its VAPID step (which signs a JWT per call; we cache ours)."""

    def __init__(self) -> None:  # no VAPID key needed for encryption alone
        self.max_resord_size = 4096

    def encrypt(self, plaintext: bytes, endpoint: str, p256dh: str, auth: str) -> bytes:
        subscription = WebPushSubscription(endpoint=endpoint, keys=WebPushKeys(p256dh=p256dh, auth=auth))
        return self._encrypt(plaintext, subscription)


@lru_cache(maxsize=1)
def _encryptor() -> _Encryptor:
    return _Encryptor()


def encrypt(plaintext: bytes, *, endpoint: str, p256dh: str, auth: str) -> bytes:
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"a push payload holds at most {MAX_PLAINTEXT} bytes")
    return _encryptor().encrypt(plaintext, endpoint, p256dh, auth)


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
