"""The virtual My Number card at ISO 7816-4 level (behaviour per jpki.md §1–§4.4).

``process`` takes any byte string and always returns a valid R-APDU. Security state lives per
selected DF and is cleared by any DF SELECT and by reset. PIN counters change only through VERIFY
and are persisted through the ``on_change`` callback before the answer leaves the card.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nfc_bridge.apdu import CommandAPDU
from nfc_bridge.card_info import Basic4Info, encode_basic4, encode_individual_number
from nfc_bridge.virtual_card.keys import CardKey, KeyUsageError, load_card_key
from nfc_bridge.virtual_card.store import CardData, CardStore, PinRecord

ATR = bytes.fromhex("3BE000FF8131FE4514")
JPKI_AID = bytes.fromhex("D392F000260100000001")
TEXT_AID = bytes.fromhex("D3921000310001010408")
VISUAL_AID = bytes.fromhex("D3921000310001010402")
ISD_AID = bytes.fromhex("A0000001510000")


class Status(Exception):
    def __init__(self, sw: int) -> None:
        self.sw = sw


@dataclass
class DataEF:
    data: bytes
    read_keys: tuple[int, ...] = ()  # any one verified key opens it; empty = free


@dataclass
class PinEF:
    record_id: str  # key in CardData.pins
    max_length: int


@dataclass
class KeyEF:
    key: CardKey
    pin_fid: int


EF = DataEF | PinEF | KeyEF


@dataclass
class Application:
    name: str
    files: dict[int, EF] = field(default_factory=dict)


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


class VirtualCard:
    def __init__(self, data: CardData, on_change: Callable[[CardData], None] | None = None,
                 signature_delay: float = 0.0) -> None:
        self.data = data
        self._on_change = on_change
        # an optional delay emulating a slow chip; used to exercise ISO-DEP WTX
        self.signature_delay = signature_delay
        self._lock = threading.RLock()
        self.apps = self._build(data)
        self.reset()

    # -- layout ---------------------------------------------------------------------------------
    @staticmethod
    def _build(data: CardData) -> dict[bytes, Application]:
        info = data.card_info
        phone = data.token not in ("JPKIAPICCTOKEN2", "JPKIAPICCTOKEN")
        token = data.token.encode("ascii").ljust(32, b" ").ljust(160, b" ")
        jpki = Application("JPKI", {
            0x0001: DataEF(data.der("sign_cert"), (0x001B,)),
            0x0002: DataEF(data.der("sign_ca_cert")),
            0x0006: DataEF(token),
            0x0008: DataEF(b"\x8f\x8f\x00"),
            # the phone token guards the auth certificate with the auth PIN (jpki.md §6.4)
            0x000A: DataEF(data.der("auth_cert"), (0x0018,) if phone else ()),
            0x000B: DataEF(data.der("auth_ca_cert")),
            0x0017: KeyEF(load_card_key(data.auth_key_pem.encode()), 0x0018),
            0x0018: PinEF("jpki/0018", 4),
            0x001A: KeyEF(load_card_key(data.sign_key_pem.encode()), 0x001B),
            0x001B: PinEF("jpki/001B", 16),
        })
        basic4 = Basic4Info(info.name, info.address, dt.date.fromisoformat(info.birth_date), info.sex)
        text = Application("text", {
            0x0001: DataEF(encode_individual_number(info.individual_number), (0x0011, 0x0014)),
            0x0002: DataEF(encode_basic4(basic4), (0x0011, 0x0015)),
            0x0011: PinEF("text/0011", 4),
            0x0014: PinEF("text/0014", 12),
            0x0015: PinEF("text/0015", 14),
        })
        visual = Application("visual", {
            0x0012: PinEF("visual/0012", 14),
            0x0013: PinEF("visual/0013", 12),
        })
        return {JPKI_AID: jpki, TEXT_AID: text, VISUAL_AID: visual}

    # -- power --------------------------------------------------------------------------------
    def reset(self) -> bytes:
        """Power-on / warm reset: back to the MF state with no security state. Returns the ATR."""
        with self._lock:
            self.current_aid: bytes | None = None
            self.current_ef: int | None = None
            self.verified: set[int] = set()
        return ATR

    @property
    def atr(self) -> bytes:
        return ATR

    def tries_left(self, record_id: str) -> int:
        return self.data.pins[record_id].tries_left

    # -- dispatch -----------------------------------------------------------------------------
    def process(self, raw: bytes) -> bytes:
        with self._lock:
            try:
                return self._process(bytes(raw))
            except Status as status:
                return _sw(status.sw)
            except Exception:  # a card never crashes: anything unforeseen is a technical error
                return _sw(0x6F00)

    def _process(self, raw: bytes) -> bytes:
        if len(raw) < 4:
            raise Status(0x6700)
        cla, ins = raw[0], raw[1]
        if cla & 0xF0 not in (0x00, 0x80) or cla & 0x10:
            raise Status(0x6E00)
        if ins & 0xF0 in (0x60, 0x90):
            raise Status(0x6D00)  # invalid INS values per ISO 7816-3
        try:
            cmd = CommandAPDU.parse(raw)
        except ValueError:
            raise Status(0x6700) from None
        if cla & 0x03:
            raise Status(0x6881)
        if cla & 0x0C:
            raise Status(0x6882 if ins == 0xA4 else 0x69FC)
        handler = {
            (0x00, 0xA4): self._select,
            (0x00, 0xB0): self._read_binary,
            (0x00, 0x20): self._verify,
            (0x00, 0x24): self._change_reference_data,
            (0x00, 0x84): self._get_challenge,
            (0x80, 0x2A): self._compute_signature,
        }.get((cla & 0xF0, ins))
        if handler is None:
            raise Status(0x6D00)
        return handler(cmd)

    # -- helpers ------------------------------------------------------------------------------
    def _app(self) -> Application | None:
        return self.apps.get(self.current_aid) if self.current_aid is not None else None

    def _ef_by_sfi(self, sfi: int) -> tuple[int, EF]:
        app = self._app()
        if app is None or sfi not in app.files:
            raise Status(0x6A82)
        return sfi, app.files[sfi]

    def _current(self) -> tuple[int, EF]:
        app = self._app()
        if app is None or self.current_ef is None:
            raise Status(0x6986)
        return self.current_ef, app.files[self.current_ef]

    def _persist(self) -> None:
        if self._on_change is not None:
            self._on_change(self.data)

    # -- commands -----------------------------------------------------------------------------
    def _select(self, cmd: CommandAPDU) -> bytes:
        if cmd.p2 not in (0x00, 0x0C):
            raise Status(0x6A86)
        if cmd.p1 == 0x04:
            if not cmd.data:
                raise Status(0x6700)
            if cmd.data == ISD_AID or cmd.data == ISD_AID + b"\x00":
                self.reset()
                return _sw(0x9000)
            if cmd.data not in self.apps:  # exact match only; state untouched on failure
                raise Status(0x6A82)
            self.current_aid, self.current_ef, self.verified = cmd.data, None, set()
            if cmd.p2 == 0x00 and cmd.le is not None:
                fci = b"\x84" + bytes((len(cmd.data),)) + cmd.data
                return _sw(0x9000, b"\x6f" + bytes((len(fci),)) + fci)
            return _sw(0x9000)
        if cmd.p1 == 0x02:
            if len(cmd.data) != 2:
                raise Status(0x6700)
            app = self._app()
            fid = int.from_bytes(cmd.data, "big")
            if app is None or fid not in app.files:
                raise Status(0x6A82)
            self.current_ef = fid
            return _sw(0x9000)
        if cmd.p1 == 0x00:
            if cmd.data == b"\x3f\x00":
                raise Status(0x6A82)
            if self.current_aid is None:
                raise Status(0x6A86)
            return _sw(0x9000)
        raise Status(0x6A86)

    def _read_binary(self, cmd: CommandAPDU) -> bytes:
        if cmd.data or cmd.le is None:
            raise Status(0x6700)
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60:
                raise Status(0x6A86)
            fid, ef = self._ef_by_sfi(cmd.p1 & 0x1F)
            offset = cmd.p2
            self.current_ef = fid
        else:
            fid, ef = self._current()
            offset = (cmd.p1 << 8) | cmd.p2
        if not isinstance(ef, DataEF):
            raise Status(0x6981)
        if ef.read_keys and not self.verified.intersection(ef.read_keys):
            raise Status(0x6982)
        if offset >= len(ef.data):
            raise Status(0x6B00)
        return _sw(0x9000, ef.data[offset:offset + cmd.le])

    def _pin_for(self, cmd: CommandAPDU) -> tuple[int, PinEF]:
        if cmd.p2 == 0x80:
            fid, ef = self._current()
        elif 0x81 <= cmd.p2 <= 0x9E:
            app = self._app()
            fid = cmd.p2 & 0x1F
            if app is None or fid not in app.files:
                raise Status(0x6A88)
            ef = app.files[fid]
        else:
            raise Status(0x6A86)
        if not isinstance(ef, PinEF):
            raise Status(0x6981)
        return fid, ef

    def _verify(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 != 0x00:
            raise Status(0x6A86)
        fid, pin_ef = self._pin_for(cmd)
        record: PinRecord = self.data.pins[pin_ef.record_id]
        if cmd.le is not None or len(cmd.data) > pin_ef.max_length:
            raise Status(0x6700)
        if not cmd.data:
            # the status query: always 63Cx, even right after a successful VERIFY
            return _sw(0x63C0 | record.tries_left)
        if record.tries_left == 0:
            raise Status(0x6984)
        if record.matches(cmd.data):
            if record.tries_left != record.max_tries:
                record.tries_left = record.max_tries
                self._persist()
            self.verified.add(fid)
            return _sw(0x9000)
        record.tries_left -= 1
        self.verified.discard(fid)
        self._persist()
        return _sw(0x63C0 | record.tries_left)

    def _change_reference_data(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 != 0x01:
            raise Status(0x6A86)
        fid, pin_ef = self._pin_for(cmd)
        if cmd.le is not None or not cmd.data or len(cmd.data) > pin_ef.max_length:
            raise Status(0x6700)
        if fid not in self.verified:
            raise Status(0x6982)
        new = cmd.data
        valid = (new.isdigit() and len(new) == 4) if pin_ef.max_length == 4 else \
            (6 <= len(new) <= 16 and new.isalnum() and new == new.upper())
        if pin_ef.max_length not in (4, 16) or not valid:
            raise Status(0x6A80)
        self.data.pins[pin_ef.record_id].set_pin(new)
        self._persist()
        return _sw(0x9000)

    def _get_challenge(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 or cmd.p2:
            raise Status(0x6A86)
        if cmd.data or cmd.le is None:
            raise Status(0x6700)
        if cmd.is_extended:
            raise Status(0x6985)
        return _sw(0x9000, secrets.token_bytes(cmd.le))

    def _compute_signature(self, cmd: CommandAPDU) -> bytes:
        if cmd.p1 != 0x00:
            raise Status(0x6A86)
        if cmd.p2 == 0x80:
            _, ef = self._current()
        elif 0x81 <= cmd.p2 <= 0x9E:
            _, ef = self._ef_by_sfi(cmd.p2 & 0x1F)
        else:
            raise Status(0x6A86)
        if not isinstance(ef, KeyEF):
            raise Status(0x6A88)
        if not cmd.data:
            raise Status(0x6700)
        if ef.pin_fid not in self.verified:
            raise Status(0x6982)
        try:
            signature = ef.key.sign(cmd.data)
        except KeyUsageError:
            raise Status(0x6700) from None
        if cmd.le is not None and cmd.le < len(signature):
            raise Status(0x6700)
        if self.signature_delay:
            time.sleep(self.signature_delay)
        return _sw(0x9000, signature)


def load_virtual_card(path: os.PathLike[str] | str, signature_delay: float = 0.0) -> VirtualCard:
    """A card backed by a file: counters are written back on every change."""
    store = CardStore(Path(path))
    return VirtualCard(store.load(), on_change=store.save, signature_delay=signature_delay)
