"""Card private keys behind one interface, so the next-generation ECDSA P-384 card plugs in."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature


class KeyUsageError(Exception):
    """The input cannot be signed by this key (the card answers 6700)."""


class CardKey(Protocol):
    algorithm: str

    def sign(self, data: bytes) -> bytes:
        """What `80 2A 00 80` returns for ``data``."""
        ...

    def private_pem(self) -> bytes: ...


class RsaCardKey:
    """RSA with the card's P1=00 behaviour: PKCS#1 v1.5 type-1 padding over the bytes exactly as given
    (a caller-built DigestInfo), then the raw private operation."""

    algorithm = "rsa"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        numbers = key.private_numbers()
        self._n = numbers.public_numbers.n
        self._d = numbers.d
        self._k = (key.key_size + 7) // 8

    def sign(self, data: bytes) -> bytes:
        if not 1 <= len(data) <= self._k - 11:
            raise KeyUsageError("input length")
        padded = b"\x00\x01" + b"\xff" * (self._k - 3 - len(data)) + b"\x00" + data
        return pow(int.from_bytes(padded, "big"), self._d, self._n).to_bytes(self._k, "big")

    def private_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())


_HASH_BY_SIZE: dict[int, hashes.HashAlgorithm] = {32: hashes.SHA256(), 48: hashes.SHA384(), 64: hashes.SHA512()}


class EcCardKey:
    """ECDSA (P-384 on the next-generation card). Assumption, not yet documented publicly: the
    command carries the bare hash and the card returns r‖s, each as long as the curve order."""

    algorithm = "ec"

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._size = (key.curve.key_size + 7) // 8

    def sign(self, data: bytes) -> bytes:
        alg = _HASH_BY_SIZE.get(len(data))
        if alg is None:
            raise KeyUsageError("input must be a SHA-256/384/512 hash")
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(Prehashed(alg))))
        return r.to_bytes(self._size, "big") + s.to_bytes(self._size, "big")

    def private_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())


def generate_key(algorithm: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if algorithm == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"unknown key algorithm {algorithm!r} (rsa2048, ec-p384)")


@lru_cache(maxsize=32)  # parsing + validating an RSA key costs ~50 ms; cards are rebuilt often in tests
def load_card_key(pem: bytes) -> CardKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        return RsaCardKey(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return EcCardKey(key)
    raise ValueError("unsupported card key type")
