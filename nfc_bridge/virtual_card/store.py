"""The virtual card file: keys, certificates, PIN reference data and counters, card-info data.

One JSON file. PINs are kept only as salted PBKDF2 hashes; counters are rewritten atomically on
every change so they survive restarts, as on a real card.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT_VERSION = 1
_PBKDF2_ROUNDS = 10_000  # the card file is a test artefact; this only avoids plain PINs on disk


@dataclass
class PinRecord:
    salt: str
    hash: str
    max_tries: int
    tries_left: int

    @classmethod
    def create(cls, pin: str, max_tries: int) -> PinRecord:
        salt = secrets.token_bytes(16)
        return cls(salt.hex(), _hash(pin.encode(), salt).hex(), max_tries, max_tries)

    def matches(self, candidate: bytes) -> bool:
        return hmac.compare_digest(_hash(candidate, bytes.fromhex(self.salt)), bytes.fromhex(self.hash))

    def set_pin(self, pin: bytes) -> None:
        salt = secrets.token_bytes(16)
        self.salt, self.hash = salt.hex(), _hash(pin, salt).hex()


def _hash(pin: bytes, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", pin, salt, _PBKDF2_ROUNDS)


@dataclass
class CardInfoData:
    individual_number: str
    name: str
    address: str
    birth_date: str  # YYYY-MM-DD
    sex: str
    expiry_year: int
    security_code: str


@dataclass
class CardData:
    token: str
    auth_key_pem: str
    sign_key_pem: str
    auth_cert: str  # base64 DER
    auth_ca_cert: str
    sign_cert: str
    sign_ca_cert: str
    pins: dict[str, PinRecord]  # "jpki/0018", "jpki/001B", "text/0011", ...
    card_info: CardInfoData
    version: int = FORMAT_VERSION
    extra: dict[str, str] = field(default_factory=dict)

    def der(self, name: str) -> bytes:
        return base64.b64decode(getattr(self, name))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CardData:
        raw = json.loads(text)
        if raw.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported virtual card file version {raw.get('version')!r}")
        raw["pins"] = {k: PinRecord(**v) for k, v in raw["pins"].items()}
        raw["card_info"] = CardInfoData(**raw["card_info"])
        return cls(**raw)

    def copy(self) -> CardData:
        return CardData.from_json(self.to_json())


class CardStore:
    """Load and save a card file; ``save`` is atomic (write a temporary file, then rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> CardData:
        return CardData.from_json(self.path.read_text(encoding="utf-8"))

    def save(self, data: CardData) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data.to_json())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
