"""How keys are written in the environment: one base64 key, a list of key generations, and the demo keys that
development generates on first run. Settings (api.platform.settings) reads them through these functions."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

# Demo keys carry this prefix so production can recognise and refuse them wherever they came from.
DEMO_KEY_PREFIX = "demo:"


def root_keys(env: Mapping[str, str], production: bool, problems: list[str]) -> dict[str, bytes]:
    """MYNAPORTAL_DATA_KEY and MYNAPORTAL_LOOKUP_KEY, decoded (demo keys in development); problems appended."""
    keys_file = Path(env.get("MYNAPORTAL_DEMO_KEYS_FILE", "var/demo-keys.json"))
    raw_keys = {name: env.get(name) for name in ("MYNAPORTAL_DATA_KEY", "MYNAPORTAL_LOOKUP_KEY")}
    if not production and not all(raw_keys.values()):
        demo = load_or_create_demo_keys(keys_file)
        raw_keys = {name: raw_keys[name] or demo[name] for name in raw_keys}
    keys: dict[str, bytes] = {}
    for name, raw in raw_keys.items():
        # The lookup key is not needed when its generations are listed or live in an HSM; the data key stays
        # the root of the other secrets at rest (push.secrets).
        if not raw and name == "MYNAPORTAL_LOOKUP_KEY" and (env.get("MYNAPORTAL_LOOKUP_KEYS")
                                                              or env.get("MYNAPORTAL_KEY_SOURCE") == "pkcs11"):
            continue
        if not raw:
            problems.append(f"{name} is required in production (base64 of 32 random bytes)")
            continue
        if production and raw.startswith(DEMO_KEY_PREFIX):
            problems.append(f"production refuses the demo key in {name}")
            continue
        try:
            key = base64.b64decode(raw.removeprefix(DEMO_KEY_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{name} is not valid base64")
            continue
        if len(key) != 32:
            problems.append(f"{name} must decode to 32 bytes, not {len(key)}")
        keys[name] = key
    return keys


def key_generations(raw: str, name: str, production: bool, problems: list[str]) -> tuple[tuple[int, bytes], ...]:
    """``3:base64,2:base64`` (newest first) as ((3, key), (2, key)); problems appended, never the key."""
    found: list[tuple[int, bytes]] = []
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        number, _, encoded = entry.partition(":")
        if not number.isdigit() or not 1 <= int(number) <= 32767:
            problems.append(f"{name}: each entry is GENERATION:BASE64 with a generation from 1 to 32767")
            continue
        if production and encoded.startswith(DEMO_KEY_PREFIX):
            problems.append(f"production refuses the demo key of generation {number} in {name}")
            continue
        try:
            key = base64.b64decode(encoded.removeprefix(DEMO_KEY_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{name}: generation {number} is not valid base64")
            continue
        if len(key) != 32:
            problems.append(f"{name}: generation {number} must decode to 32 bytes, not {len(key)}")
        elif int(number) in dict(found):
            problems.append(f"{name}: generation {number} appears twice")
        else:
            found.append((int(number), key))
    return tuple(found)


def load_or_create_demo_keys(path: Path) -> dict[str, str]:
    """Development only: keys generated on first run and kept, so encrypted demo data stays readable."""
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = {
        name: DEMO_KEY_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        for name in ("MYNAPORTAL_DATA_KEY", "MYNAPORTAL_LOOKUP_KEY")
    }
    # Exclusive create: two processes starting together must not each write different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return json.loads(path.read_text())
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)
    return keys
