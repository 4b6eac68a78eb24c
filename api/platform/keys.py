"""Where the individual number's keys live: one small interface, two implementations.

A ``KeySource`` holds numbered key generations of two kinds: ``data`` (AES-256-GCM, encrypts numbers at rest)
and ``lookup`` (HMAC-SHA256, the keyed hash that finds a person). The newest generation of each kind writes;
every active generation still decrypts and hashes, so rows can move to the new one while the portal serves.
Callers never see a key: they ask the source to encrypt, decrypt or MAC, so an HSM can keep its keys
non-extractable.

- ``StaticKeySource``: keys from settings (environment or the development demo-keys file).
- ``Pkcs11KeySource``: keys inside a PKCS#11 token (an HSM, a cloud KMS's PKCS#11 module, SoftHSM in tests),
  found by label ``mynaportal-data-<generation>`` / ``mynaportal-lookup-<generation>``.

Keys never come from the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.platform.settings import Settings

KeyKind = Literal["data", "lookup"]
KEY_KINDS: tuple[KeyKind, ...] = ("data", "lookup")
LABEL_PREFIX = "mynaportal-"
_LABEL = re.compile(r"^mynaportal-(data|lookup)-([1-9][0-9]{0,4})$")
MAX_GENERATION = 32767  # the generation columns are SMALLINT


class KeyGenerationUnknown(LookupError):
    """The generation is not (or no longer) held by the key source."""


class KeySource(Protocol):
    def generations(self, kind: KeyKind) -> tuple[int, ...]:
        """Active generations, newest (the one that writes) first."""
        ...

    def encrypt(self, generation: int, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """AES-256-GCM: ciphertext followed by the 16-byte tag."""
        ...

    def decrypt(self, generation: int, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        ...

    def mac(self, generation: int, message: bytes) -> bytes:
        """HMAC-SHA256 under the lookup key of this generation."""
        ...

    def add_generation(self, kind: KeyKind) -> int:
        """Create the next generation (where the source can: an HSM generates it inside); return its number."""
        ...

    def retire(self, kind: KeyKind, generation: int) -> None:
        """Forget the generation: it neither writes nor reads again."""
        ...


class StaticKeySource:
    """Keys given as bytes (settings). ``add_generation`` is not possible: an operator configures keys."""

    def __init__(self, data: Mapping[int, bytes], lookup: Mapping[int, bytes]) -> None:
        for kind, keys in (("data", data), ("lookup", lookup)):
            if not keys:
                raise ValueError(f"at least one {kind} key is required")
            if any(len(key) != 32 for key in keys.values()):
                raise ValueError(f"{kind} keys must be 32 bytes")
        # Insertion order is the configured order: the first writes.
        self._aead = {generation: AESGCM(key) for generation, key in data.items()}
        self._lookup = dict(lookup)

    def generations(self, kind: KeyKind) -> tuple[int, ...]:
        return tuple(self._aead if kind == "data" else self._lookup)

    def _aead_of(self, generation: int) -> AESGCM:
        try:
            return self._aead[generation]
        except KeyError:
            raise KeyGenerationUnknown(f"no data key of generation {generation}") from None

    def encrypt(self, generation: int, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._aead_of(generation).encrypt(nonce, plaintext, aad)

    def decrypt(self, generation: int, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        return self._aead_of(generation).decrypt(nonce, ciphertext, aad)

    def mac(self, generation: int, message: bytes) -> bytes:
        try:
            key = self._lookup[generation]
        except KeyError:
            raise KeyGenerationUnknown(f"no lookup key of generation {generation}") from None
        return hmac.new(key, message, hashlib.sha256).digest()

    def add_generation(self, kind: KeyKind) -> int:
        raise NotImplementedError("settings keys are added by configuration (MYNAPORTAL_DATA_KEYS / _LOOKUP_KEYS)")

    def retire(self, kind: KeyKind, generation: int) -> None:
        table: dict[int, Any] = self._aead if kind == "data" else self._lookup
        if generation not in table:
            raise KeyGenerationUnknown(f"no {kind} key of generation {generation}")
        del table[generation]


class Pkcs11KeySource:
    """Keys inside a PKCS#11 token; the portal holds handles, never key bytes (keys are generated sensitive and
    non-extractable). One logged-in session for the process, guarded by a lock: a PKCS#11 session must not be
    used by two threads at once."""

    def __init__(self, module: str, token_label: str, pin: str, *, refresh_seconds: float = 60.0) -> None:
        import pkcs11  # optional at import time: only deployments with an HSM load the module

        self._pkcs11 = pkcs11
        self._lock = threading.Lock()
        token = pkcs11.lib(module).get_token(token_label=token_label)
        try:
            self._session = token.open(rw=True, user_pin=pin)
        except pkcs11.exceptions.UserAlreadyLoggedIn:  # login is per process and token: another source of ours holds it
            self._session = token.open(rw=True)
        self._keys: dict[KeyKind, dict[int, Any]] = {"data": {}, "lookup": {}}
        # A generation added or retired by `mynaportal keys` in another process is seen within this time, and a
        # row under a generation this process has not seen yet makes it look at once.
        self._refresh_seconds = refresh_seconds
        self._loaded_at = 0.0
        self.reload()

    def reload(self) -> None:
        """Read the token's generations again (another process may have added or retired one)."""
        found: dict[KeyKind, dict[int, Any]] = {"data": {}, "lookup": {}}
        with self._lock:
            for key in self._session.get_objects({self._pkcs11.Attribute.CLASS: self._pkcs11.ObjectClass.SECRET_KEY}):
                match = _LABEL.match(key.label or "")
                if match:
                    found[match[1]][int(match[2])] = key  # type: ignore[index]
        self._keys = {kind: dict(sorted(keys.items(), reverse=True)) for kind, keys in found.items()}
        self._loaded_at = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def generations(self, kind: KeyKind) -> tuple[int, ...]:
        if time.monotonic() - self._loaded_at >= self._refresh_seconds:
            self.reload()
        return tuple(self._keys[kind])

    def _key(self, kind: KeyKind, generation: int) -> Any:
        if generation not in self._keys[kind]:
            self.reload()
        try:
            return self._keys[kind][generation]
        except KeyError:
            raise KeyGenerationUnknown(f"no {kind} key of generation {generation} in the token") from None

    def encrypt(self, generation: int, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        from pkcs11.mechanisms import GCMParams

        key = self._key("data", generation)
        with self._lock:
            return bytes(key.encrypt(plaintext, mechanism=self._pkcs11.Mechanism.AES_GCM,
                                     mechanism_param=GCMParams(nonce, aad)))

    def decrypt(self, generation: int, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag
        from pkcs11.mechanisms import GCMParams

        key = self._key("data", generation)
        try:
            with self._lock:
                return bytes(key.decrypt(ciphertext, mechanism=self._pkcs11.Mechanism.AES_GCM,
                                         mechanism_param=GCMParams(nonce, aad)))
        except self._pkcs11.PKCS11Error as error:
            # The same failure as the software cipher's, so callers handle one exception.
            raise InvalidTag() from error

    def mac(self, generation: int, message: bytes) -> bytes:
        key = self._key("lookup", generation)
        with self._lock:
            return bytes(key.sign(message, mechanism=self._pkcs11.Mechanism.SHA256_HMAC))

    def add_generation(self, kind: KeyKind) -> int:
        self.reload()
        generation = max(self._keys[kind], default=0) + 1
        if generation > MAX_GENERATION:
            raise ValueError("no generation number left")
        p = self._pkcs11
        key_type = p.KeyType.AES if kind == "data" else p.KeyType.GENERIC_SECRET
        capabilities = (p.MechanismFlag.ENCRYPT | p.MechanismFlag.DECRYPT if kind == "data"
                        else p.MechanismFlag.SIGN | p.MechanismFlag.VERIFY)
        with self._lock:
            self._session.generate_key(key_type, 256, label=f"{LABEL_PREFIX}{kind}-{generation}", store=True,
                                       capabilities=capabilities,
                                       template={p.Attribute.SENSITIVE: True, p.Attribute.EXTRACTABLE: False})
        self.reload()
        return generation

    def retire(self, kind: KeyKind, generation: int) -> None:
        key = self._key(kind, generation)
        with self._lock:
            key.destroy()
        self.reload()


def key_source_for(settings: Settings) -> KeySource:
    """The number's key source the settings describe (production has refused demo keys already)."""
    if settings.key_source == "pkcs11":
        return Pkcs11KeySource(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_pin)
    return StaticKeySource(dict(settings.data_keys) or {1: settings.data_key},
                           dict(settings.lookup_keys) or {1: settings.lookup_key})
