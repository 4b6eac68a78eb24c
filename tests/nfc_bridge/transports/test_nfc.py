"""nfcpy over its UDP driver: a card process (`myna-bridge emulate --nfc-udp`) and this reader process."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from nfc_bridge.errors import CardRemovedError, PinBlockedError, WrongPinError
from nfc_bridge.jpki import Cert, Key, MyNumberCard, Pin
from nfc_bridge.transports.base import CountingTransport
from nfc_bridge.transports.nfc import NfcTransport
from nfc_bridge.virtual_card.store import CardStore

AUTH_PIN = "1234"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CardProcess:
    def __init__(self, card_file: Path, *extra: str) -> None:
        self.port = free_udp_port()
        self.card_file = card_file
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nfc_bridge.cli", "emulate", str(card_file), "--nfc-udp",
             f"127.0.0.1:{self.port}", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        assert "listening" in line, line + self.process.stderr.read().decode()  # type: ignore[union-attr]
        time.sleep(0.1)

    def reader(self) -> NfcTransport:
        return NfcTransport(f"udp:127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def card_process(card_file: Path) -> Iterator[CardProcess]:
    process = CardProcess(card_file)
    yield process
    process.stop()


def test_read_verify_sign_over_nfc_udp(card_process: CardProcess) -> None:
    transport = CountingTransport(card_process.reader())
    try:
        card = MyNumberCard(transport)
        der = card.read_certificate(Cert.AUTH)
        assert der == CardStore(card_process.card_file).load().der("auth_cert")
        assert card.read_certificate(Cert.AUTH_CA)[:2] == b"\x30\x82"
        assert card.pin_tries_left(Pin.AUTH) == 3
        card.verify_pin(Pin.AUTH, AUTH_PIN)
        signature = card.sign_digest(Key.AUTH, hashlib.sha256(b"nonce").digest())
        x509.load_der_x509_certificate(der).public_key().verify(  # type: ignore[union-attr]
            signature, b"nonce", padding.PKCS1v15(), hashes.SHA256())
        # command chaining: a 255-byte body needs two I-blocks at FSC 256
        assert transport.transmit(bytes.fromhex("80A20000FF") + bytes(255)) == b"\x6d\x00"
    finally:
        transport.close()


def test_block_pin_over_nfc_udp_and_counters_persist(card_process: CardProcess) -> None:
    transport = card_process.reader()
    try:
        card = MyNumberCard(transport)
        for left in (2, 1, 0):
            with pytest.raises(WrongPinError) as err:
                card.verify_pin(Pin.AUTH, "0000")
            assert err.value.tries_left == left
        with pytest.raises(PinBlockedError):
            card.verify_pin(Pin.AUTH, AUTH_PIN)
    finally:
        transport.close()
    # the card process wrote the counter to its file before answering
    assert CardStore(card_process.card_file).load().pins["jpki/0018"].tries_left == 0


def test_slow_signature_uses_wtx(card_file: Path) -> None:
    process = CardProcess(card_file, "--signature-delay", "0.8")  # > FWT 309 ms: needs WTX
    transport = process.reader()
    try:
        card = MyNumberCard(transport)
        card.verify_pin(Pin.AUTH, AUTH_PIN)
        started = time.monotonic()
        assert len(card.sign_data(Key.AUTH, b"slow")) == 256
        assert time.monotonic() - started >= 0.8
    finally:
        transport.close()
        process.stop()


def test_card_leaves_the_field(card_process: CardProcess) -> None:
    transport = card_process.reader()
    try:
        card = MyNumberCard(transport)
        card.select_jpki()
        card_process.stop()
        with pytest.raises(CardRemovedError):
            card.read_certificate(Cert.AUTH)
    finally:
        transport.close()
