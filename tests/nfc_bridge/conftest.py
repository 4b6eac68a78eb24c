"""Fixtures for the card tests: one CA and one card template per session (RSA-2048 key generation
is the slow part), fresh card state per test, and pcscd + vpcd for the real PC/SC stack."""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from nfc_bridge.card_info import Basic4Info
from nfc_bridge.errors import CardError
from nfc_bridge.transports.pcsc import PcscTransport
from nfc_bridge.virtual_card.ca import CardCA
from nfc_bridge.virtual_card.card import VirtualCard
from nfc_bridge.virtual_card.issuance import FORMAT
from nfc_bridge.virtual_card.pcscd import PcscdService, PcscdUnavailable
from nfc_bridge.virtual_card.store import CardData, CardStore
from nfc_bridge.virtual_card.vpcd import VpcdCardServer

AUTH_PIN = "1234"
SIGN_PASSWORD = "ABC123"
CARD_INFO_PIN = "5678"
INDIVIDUAL_NUMBER = "621498320257"
PERSON = Basic4Info("山田　太郎", "東京都千代田区千代田１－１", dt.date(1980, 2, 17), "1")


@pytest.fixture(scope="session")
def test_ca() -> CardCA:
    return CardCA.generate()


@pytest.fixture(scope="session")
def card_template(test_ca: CardCA) -> CardData:
    return test_ca.issue_card(PERSON, INDIVIDUAL_NUMBER, auth_pin=AUTH_PIN, sign_password=SIGN_PASSWORD,
                              card_info_pin=CARD_INFO_PIN, expiry_year=2035, security_code="2285")


@pytest.fixture
def card_data(card_template: CardData) -> CardData:
    return card_template.copy()


@pytest.fixture
def virtual_card(card_data: CardData) -> VirtualCard:
    return VirtualCard(card_data)


@pytest.fixture
def card_file(card_data: CardData, tmp_path: Path) -> Path:
    path = tmp_path / "card.json"
    CardStore(path).save(card_data)
    return path


def issuance_bundle(card: CardData) -> dict:
    """The issuance bundle an issuer would hand over for the keys, certificates and facts of ``card``."""

    def pem(field: str) -> str:
        der = base64.b64decode(getattr(card, field))
        return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()

    return {"format": FORMAT, "auth_key": card.auth_key_pem, "sign_key": card.sign_key_pem,
            "auth_certificate": pem("auth_cert"), "auth_ca_certificate": pem("auth_ca_cert"),
            "sign_certificate": pem("sign_cert"), "sign_ca_certificate": pem("sign_ca_cert"),
            "card_info": asdict(card.card_info)}


# One reader for the whole machine: pytest-xdist workers and other checkouts' test runs take turns on it.
READER_LOCK = Path("/tmp/mynaportal-virtual-pcd.lock")
# Kept for the whole run: pcscd stays up after the tests (another process may be using it).
PCSCD = PcscdService()


@pytest.fixture(scope="session")
def pcscd_reader() -> str:
    """pcscd with the vpcd driver; the slot-0 reader name. Fails under CI, skips locally.

    pcscd is left running at the end, as the system's daemon would be: another test process may be using it.
    """
    try:
        # Under the reader's lock: two test processes (xdist workers) starting at once would both find no pcscd
        # and start one each; the second exits (the socket is taken) and its worker would fail.
        with READER_LOCK.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return PCSCD.start()
    except PcscdUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"pcscd/vpcd required under CI: {exc}")
        pytest.skip(f"pcscd/vpcd unavailable: {exc}")


@pytest.fixture
def pcscd(pcscd_reader: str) -> Iterator[str]:
    """The reader, held by this test alone until it ends (no other process inserts a card meanwhile)."""
    with READER_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield pcscd_reader
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def wait_for_card(reader: str, *, present: bool, timeout: float = 10.0) -> PcscTransport | None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            transport = PcscTransport(reader, extended_length=True)
        except CardError:
            if not present:
                return None
        else:
            if present:
                return transport
            transport.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"card {'insertion' if present else 'removal'} not seen on {reader}")
        time.sleep(0.05)


class InsertedCard:
    def __init__(self, reader: str, card: VirtualCard) -> None:
        self.reader, self.card = reader, card
        # pcscd's vpcd sometimes misses a card that connects right after another one left (its
        # listening socket is re-created); re-inserting once more is what a person would do too
        for attempt in range(3):
            self.server = VpcdCardServer(card).start()
            try:
                transport = wait_for_card(reader, present=True, timeout=3.0)
                break
            except TimeoutError:
                self.server.stop()
                if attempt == 2:
                    raise
        assert transport is not None
        self.transport: PcscTransport = transport

    def remove(self) -> None:
        self.server.stop()
        wait_for_card(self.reader, present=False)
        time.sleep(0.3)  # let vpcd notice the closed link before the next card connects

    def close(self) -> None:
        self.transport.close()
        self.remove()


@pytest.fixture
def pcsc_card(pcscd: str, virtual_card: VirtualCard) -> Iterator[InsertedCard]:
    """A fresh virtual card inserted in 'Virtual PCD 00 00' and a connected PcscTransport."""
    inserted = InsertedCard(pcscd, virtual_card)
    yield inserted
    inserted.close()
