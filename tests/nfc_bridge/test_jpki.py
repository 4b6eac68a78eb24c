"""Card operations over the in-process transport (the same code runs over PC/SC and NFC)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from nfc_bridge.errors import NotMyNumberCardError, PinBlockedError, SecurityStatusNotSatisfiedError, WrongPinError
from nfc_bridge.jpki import Cert, Key, MyNumberCard, Pin, TokenKind, digest_info
from nfc_bridge.transports.base import CountingTransport
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.store import CardData
from nfc_bridge.virtual_card.transport import VirtualTransport

AUTH_PIN, SIGN_PASSWORD, CARD_INFO_PIN = "1234", "ABC123", "5678"


def session(card: VirtualCard, extended: bool = False) -> tuple[MyNumberCard, CountingTransport]:
    transport = CountingTransport(VirtualTransport(card, extended_length=extended), log=[])
    return MyNumberCard(transport), transport


def test_read_certificates_whole_in_few_apdus(virtual_card: VirtualCard) -> None:
    card, transport = session(virtual_card)
    cert = card.read_certificate(Cert.AUTH)
    assert cert == virtual_card.data.der("auth_cert") and len(cert) > 256
    reads = [c for c, _ in transport.log or [] if c[1] == 0xB0]
    assert len(reads) == (len(cert) + 255) // 256
    assert reads[0].hex().upper() == "00B0000000"
    assert card.read_certificate(Cert.AUTH_CA) == virtual_card.data.der("auth_ca_cert")
    assert card.read_certificate(Cert.SIGN_CA) == virtual_card.data.der("sign_ca_cert")


def test_extended_length_reads_certificate_in_one_apdu(virtual_card: VirtualCard) -> None:
    card, transport = session(virtual_card, extended=True)
    assert card.read_certificate(Cert.AUTH) == virtual_card.data.der("auth_cert")
    assert [c.hex().upper() for c, _ in transport.log or [] if c[1] == 0xB0] == ["00B00000000000"]


def test_sign_certificate_needs_password(virtual_card: VirtualCard) -> None:
    card, _ = session(virtual_card)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        card.read_certificate(Cert.SIGN)
    card.verify_pin(Pin.SIGN, SIGN_PASSWORD.lower())  # the card only knows upper case; we convert
    assert card.read_certificate(Cert.SIGN) == virtual_card.data.der("sign_cert")


def test_tries_left_does_not_consume(virtual_card: VirtualCard) -> None:
    card, _ = session(virtual_card)
    assert [card.pin_tries_left(Pin.AUTH) for _ in range(5)] == [3] * 5
    assert card.pin_tries_left(Pin.SIGN) == 5
    assert card.pin_tries_left(Pin.CARD_INFO) == 3
    assert virtual_card.tries_left("jpki/0018") == 3


def test_wrong_pin_then_blocked(virtual_card: VirtualCard) -> None:
    card, _ = session(virtual_card)
    for left in (2, 1, 0):
        with pytest.raises(WrongPinError) as err:
            card.verify_pin(Pin.AUTH, "9999")
        assert err.value.tries_left == left
    with pytest.raises(PinBlockedError):
        card.verify_pin(Pin.AUTH, AUTH_PIN)
    assert card.pin_tries_left(Pin.AUTH) == 0
    assert virtual_card.tries_left("jpki/001B") == 5  # other counters untouched


@pytest.mark.parametrize("hash_name", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize(("key", "pin", "cert"), [(Key.AUTH, AUTH_PIN, "auth_cert"),
                                                   (Key.SIGN, SIGN_PASSWORD, "sign_cert")])
def test_sign_digest(virtual_card: VirtualCard, hash_name: str, key: Key, pin: str, cert: str) -> None:
    card, transport = session(virtual_card)
    message = b"challenge from the portal"
    with pytest.raises(SecurityStatusNotSatisfiedError):
        card.sign_data(key, message, hash_name)
    card.verify_pin(key.pin, pin)
    signature = card.sign_data(key, message, hash_name)
    public_key = x509.load_der_x509_certificate(virtual_card.data.der(cert)).public_key()
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[hash_name]
    public_key.verify(signature, message, padding.PKCS1v15(), algorithm)  # type: ignore[union-attr]
    command = (transport.log or [])[-1][0]
    expected = digest_info(hashlib.new(hash_name, message).digest(), hash_name)
    assert command == bytes.fromhex("802A0080") + bytes((len(expected),)) + expected + b"\x00"


def test_token_kinds(card_data: CardData) -> None:
    card, _ = session(VirtualCard(card_data))
    assert card.token().kind is TokenKind.CARD
    card_data.token = "JPKIAPGPSETOKEN"
    phone, _ = session(VirtualCard(card_data))
    assert phone.token().kind is TokenKind.ANDROID
    with pytest.raises(SecurityStatusNotSatisfiedError):  # the phone guards the auth cert with the PIN
        phone.read_certificate(Cert.AUTH)
    phone.verify_pin(Pin.AUTH, AUTH_PIN)
    assert phone.read_certificate(Cert.AUTH) == card_data.der("auth_cert")


def test_card_info(virtual_card: VirtualCard) -> None:
    card, transport = session(virtual_card)
    with pytest.raises(SecurityStatusNotSatisfiedError):
        card.read_basic4()
    info = card.read_basic4(CARD_INFO_PIN)
    assert (info.name, info.address, info.birth_date.isoformat(), info.sex) == (
        "山田　太郎", "東京都千代田区千代田１－１", "1980-02-17", "1")
    assert card.read_individual_number() == "621498320257"  # same session: PIN still verified
    # the PIN went to the card once, in one VERIFY
    verifies = [c for c, _ in transport.log or [] if c[1] == 0x20 and len(c) > 4]
    assert verifies == [bytes.fromhex("0020008004") + CARD_INFO_PIN.encode()]


def test_not_a_my_number_card() -> None:
    class ForeignCard:
        max_response_length = 256

        def transmit(self, apdu: bytes) -> bytes:
            return b"\x6a\x82"

        def close(self) -> None:
            pass

    with pytest.raises(NotMyNumberCardError):
        MyNumberCard(ForeignCard()).select_jpki()


def test_empty_pin_is_refused_locally(virtual_card: VirtualCard) -> None:
    card, transport = session(virtual_card)
    with pytest.raises(ValueError, match="empty PIN"):
        card.verify_pin(Pin.AUTH, "")
    assert transport.counter.apdus == 0
