"""Card operations on the JPKI AP and the card-info AP, independent of transport.

All operations are built on SELECT / READ BINARY / VERIFY / `80 2A` (jpki.md §3). PINs are passed
in, used for one APDU and never kept.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from nfc_bridge import tlv
from nfc_bridge.apdu import CommandAPDU, ResponseAPDU, transmit
from nfc_bridge.card_info import (
    EF_BASIC4,
    EF_INDIVIDUAL_NUMBER,
    KEY_CARD_INFO_PIN,
    TEXT_AP_AID,
    Basic4Info,
    parse_basic4,
    parse_individual_number,
)
from nfc_bridge.errors import (
    CardFileNotFoundError,
    MalformedResponseError,
    NotMyNumberCardError,
    OffsetOutOfRangeError,
    StatusWordError,
    WrongPinError,
)
from nfc_bridge.transports.base import CardTransport

JPKI_AID = bytes.fromhex("D392F000260100000001")
EF_TOKEN = 0x0006

DIGEST_INFO_PREFIX = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
DIGEST_SIZE = {"sha256": 32, "sha384": 48, "sha512": 64}


class Pin(enum.Enum):
    """PIN key references: (application AID, EF id, max tries, description)."""

    AUTH = (JPKI_AID, 0x0018, 3, "user authentication PIN (4 digits)")
    SIGN = (JPKI_AID, 0x001B, 5, "signature password (6-16 characters)")
    CARD_INFO = (TEXT_AP_AID, KEY_CARD_INFO_PIN, 3, "card-info input support PIN (4 digits)")

    @property
    def aid(self) -> bytes:
        return self.value[0]

    @property
    def fid(self) -> int:
        return self.value[1]

    @property
    def max_tries(self) -> int:
        return self.value[2]

    @property
    def description(self) -> str:
        return self.value[3]


class Key(enum.Enum):
    """Private keys: (key EF, PIN)."""

    AUTH = (0x0017, Pin.AUTH)
    SIGN = (0x001A, Pin.SIGN)

    @property
    def fid(self) -> int:
        return self.value[0]

    @property
    def pin(self) -> Pin:
        return self.value[1]


class Cert(enum.Enum):
    AUTH = 0x000A
    AUTH_CA = 0x000B
    SIGN = 0x0001
    SIGN_CA = 0x0002


class TokenKind(enum.Enum):
    CARD = "My Number card"
    JUKI_CARD = "Basic Resident Registration card"
    ANDROID = "Android smartphone certificate"
    IPHONE = "iPhone My Number card"
    UNKNOWN = "unknown token"


_TOKENS = {"JPKIAPICCTOKEN2": TokenKind.CARD, "JPKIAPICCTOKEN": TokenKind.JUKI_CARD,
           "JPKIAPGPSETOKEN": TokenKind.ANDROID, "JPKIAPIOSTOKEN": TokenKind.IPHONE}


@dataclass(frozen=True)
class Token:
    name: str
    kind: TokenKind


def digest_info(digest: bytes, hash_name: str) -> bytes:
    """The DER DigestInfo the card pads and signs (PKCS#1 v1.5)."""
    if hash_name not in DIGEST_INFO_PREFIX:
        raise ValueError(f"unsupported hash {hash_name!r} (sha256, sha384, sha512)")
    if len(digest) != DIGEST_SIZE[hash_name]:
        raise ValueError(f"a {hash_name} digest is {DIGEST_SIZE[hash_name]} bytes, got {len(digest)}")
    return DIGEST_INFO_PREFIX[hash_name] + digest


class MyNumberCard:
    """A session with a card (or phone token) over any transport."""

    def __init__(self, transport: CardTransport) -> None:
        self.transport = transport
        self._current_aid: bytes | None = None

    # -- plumbing -------------------------------------------------------------------------------
    def _send(self, command: CommandAPDU) -> ResponseAPDU:
        return transmit(self.transport, command)

    def select_application(self, aid: bytes) -> None:
        response = self._send(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, aid))
        if response.sw == 0x6A82:
            self._current_aid = None
            if aid == JPKI_AID:
                raise NotMyNumberCardError()
            raise CardFileNotFoundError(response.sw, "application not found on this card")
        response.check()
        self._current_aid = aid

    def _ensure_application(self, aid: bytes) -> None:
        # re-SELECT only when switching: a SELECT clears the verified state (jpki.md §1.1)
        if self._current_aid != aid:
            self.select_application(aid)

    def select_jpki(self) -> None:
        self.select_application(JPKI_AID)

    def select_ef(self, fid: int) -> None:
        self._send(CommandAPDU(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))).check()

    def read_binary(self, offset: int, length: int) -> bytes:
        if not 0 <= offset <= 0x7FFF:
            raise ValueError("READ BINARY offset is 15 bits")
        return self._send(CommandAPDU(0x00, 0xB0, offset >> 8, offset & 0xFF, le=length)).check().data

    def read_tlv_file(self, fid: int) -> bytes:
        """Read a TLV-structured EF whole, in as few READ BINARY commands as the reader allows."""
        self.select_ef(fid)
        chunk = self.transport.max_response_length
        data = self.read_binary(0, chunk)
        try:
            _, length, header = tlv.read_header(data)
        except tlv.TlvError as exc:
            raise MalformedResponseError(f"EF {fid:04X} does not start with a TLV header: {exc}") from exc
        total = header + length
        while len(data) < total:
            try:
                part = self.read_binary(len(data), min(chunk, total - len(data)))
            except OffsetOutOfRangeError:
                part = b""
            if not part:
                raise MalformedResponseError(f"EF {fid:04X} ends after {len(data)} of {total} bytes")
            data += part
        return data[:total]

    # -- JPKI -------------------------------------------------------------------------------------
    def token(self) -> Token:
        self._ensure_application(JPKI_AID)
        self.select_ef(EF_TOKEN)
        name = self.read_binary(0, 32).rstrip(b" \x00").decode("ascii", errors="replace")
        return Token(name, _TOKENS.get(name, TokenKind.UNKNOWN))

    def read_certificate(self, cert: Cert) -> bytes:
        """DER bytes. The signature certificate needs ``verify_pin(Pin.SIGN, ...)`` first."""
        self._ensure_application(JPKI_AID)
        return self.read_tlv_file(cert.value)

    def pin_tries_left(self, pin: Pin) -> int:
        """Tries left, from the empty VERIFY: spends no try."""
        self._ensure_application(pin.aid)
        self.select_ef(pin.fid)
        response = self._send(CommandAPDU(0x00, 0x20, 0x00, 0x80))
        if response.sw & 0xFFF0 == 0x63C0:
            return response.sw & 0x0F
        raise StatusWordError(response.sw, "unexpected answer to the PIN status query")

    def verify_pin(self, pin: Pin, value: str) -> None:
        """Raises WrongPinError (with tries_left) or PinBlockedError. Never retried automatically."""
        if not value:
            raise ValueError("empty PIN")  # an empty VERIFY is the status query, not a PIN
        self._ensure_application(pin.aid)
        self.select_ef(pin.fid)
        encoded = value.upper().encode("ascii") if pin is Pin.SIGN else value.encode("ascii")
        response = transmit(self.transport, CommandAPDU(0x00, 0x20, 0x00, 0x80, encoded), follow_t0=False)
        if response.sw & 0xFFF0 == 0x63C0:
            raise WrongPinError(response.sw)
        response.check()

    def sign_digest(self, key: Key, digest: bytes, hash_name: str = "sha256") -> bytes:
        """PKCS#1 v1.5 signature over DigestInfo(digest) with ``key`` (its PIN verified first)."""
        self._ensure_application(JPKI_AID)
        self.select_ef(key.fid)
        data = digest_info(digest, hash_name)
        # Le 00 (256): enough for RSA-2048 and P-384, and what OpenSC sends
        return self._send(CommandAPDU(0x80, 0x2A, 0x00, 0x80, data, le=256)).check().data

    def sign_data(self, key: Key, message: bytes, hash_name: str = "sha256") -> bytes:
        return self.sign_digest(key, hashlib.new(hash_name, message).digest(), hash_name)

    # -- card-info AP -----------------------------------------------------------------------------
    def _read_card_info_file(self, fid: int, pin: str | None) -> bytes:
        self._ensure_application(TEXT_AP_AID)
        if pin is not None:
            self.verify_pin(Pin.CARD_INFO, pin)
        return self.read_tlv_file(fid)

    def read_individual_number(self, pin: str | None = None) -> str:
        return parse_individual_number(self._read_card_info_file(EF_INDIVIDUAL_NUMBER, pin))

    def read_basic4(self, pin: str | None = None) -> Basic4Info:
        return parse_basic4(self._read_card_info_file(EF_BASIC4, pin))
