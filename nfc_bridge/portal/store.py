"""Where the bridge keeps the session tokens and the phone's key and certificates (files, mode 0600)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


def default_directory() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "myna-bridge"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Session:
    server: str
    access_token: str
    refresh_token: str
    scopes: list[str]


@dataclass
class PhoneCredential:
    server: str
    key_pem: str  # the phone's EC P-256 authentication key; a real phone keeps it in its secure element
    authentication_certificate: str  # base64 DER
    signature_certificate: str
    chain: list[str]
    sign_key_pem: str = ""  # the signature certificate's own key (empty in a credential from before two keys)


class Store:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory else default_directory()

    @property
    def session_path(self) -> Path:
        return self.directory / "session.json"

    @property
    def phone_path(self) -> Path:
        return self.directory / "phone.json"

    def save_session(self, session: Session) -> None:
        _write_private(self.session_path, json.dumps(asdict(session)))

    def load_session(self) -> Session | None:
        if not self.session_path.exists():
            return None
        return Session(**json.loads(self.session_path.read_text(encoding="utf-8")))

    def save_phone(self, phone: PhoneCredential) -> None:
        _write_private(self.phone_path, json.dumps(asdict(phone)))

    def load_phone(self) -> PhoneCredential | None:
        if not self.phone_path.exists():
            return None
        return PhoneCredential(**json.loads(self.phone_path.read_text(encoding="utf-8")))
