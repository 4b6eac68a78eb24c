"""The real PC/SC stack: pyscard → pcscd → vpcd → virtual card."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from nfc_bridge.errors import CardRemovedError, PinBlockedError, SecurityStatusNotSatisfiedError, WrongPinError
from nfc_bridge.jpki import Cert, Key, MyNumberCard, Pin, TokenKind
from nfc_bridge.transports.base import CountingTransport
from nfc_bridge.transports.pcsc import list_readers

AUTH_PIN, SIGN_PASSWORD = "1234", "ABC123"


def test_reader_and_atr(pcsc_card: Any) -> None:
    assert "Virtual PCD 00 00" in list_readers()
    assert pcsc_card.transport.atr == bytes.fromhex("3BE000FF8131FE4514")


def test_read_verify_sign_through_pcscd(pcsc_card: Any) -> None:
    transport = CountingTransport(pcsc_card.transport)
    card = MyNumberCard(transport)
    assert card.token().kind is TokenKind.CARD
    der = card.read_certificate(Cert.AUTH)
    assert der == pcsc_card.card.data.der("auth_cert")
    assert card.pin_tries_left(Pin.AUTH) == 3
    card.verify_pin(Pin.AUTH, AUTH_PIN)
    challenge = b"portal login challenge"
    signature = card.sign_digest(Key.AUTH, hashlib.sha256(challenge).digest())
    x509.load_der_x509_certificate(der).public_key().verify(  # type: ignore[union-attr]
        signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(SecurityStatusNotSatisfiedError):
        card.read_certificate(Cert.SIGN)
    card.verify_pin(Pin.SIGN, SIGN_PASSWORD)
    sign_der = card.read_certificate(Cert.SIGN)
    signature = card.sign_data(Key.SIGN, b"contract", "sha512")
    x509.load_der_x509_certificate(sign_der).public_key().verify(  # type: ignore[union-attr]
        signature, b"contract", padding.PKCS1v15(), hashes.SHA512())


def test_exhaust_and_block_pin_through_pcscd(pcsc_card: Any) -> None:
    card = MyNumberCard(pcsc_card.transport)
    for left in (4, 3, 2, 1, 0):
        with pytest.raises(WrongPinError) as err:
            card.verify_pin(Pin.SIGN, "WRONG99")
        assert err.value.tries_left == left
    with pytest.raises(PinBlockedError):
        card.verify_pin(Pin.SIGN, SIGN_PASSWORD)
    assert card.pin_tries_left(Pin.SIGN) == 0
    assert card.pin_tries_left(Pin.AUTH) == 3
    assert pcsc_card.card.tries_left("jpki/001B") == 0


def test_reset_clears_security_state(pcsc_card: Any) -> None:
    card = MyNumberCard(pcsc_card.transport)
    card.verify_pin(Pin.SIGN, SIGN_PASSWORD)
    card.read_certificate(Cert.SIGN)
    pcsc_card.transport.reconnect()
    card.select_jpki()
    with pytest.raises(SecurityStatusNotSatisfiedError):
        card.read_certificate(Cert.SIGN)


def test_card_removed_mid_operation(pcsc_card: Any) -> None:
    card = MyNumberCard(pcsc_card.transport)
    card.select_jpki()
    pcsc_card.remove()
    with pytest.raises(CardRemovedError):
        card.read_certificate(Cert.AUTH)
