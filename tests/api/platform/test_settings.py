from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from api.platform.setting_docs import SETTINGS
from api.platform.settings import DEMO_KEY_PREFIX, Settings, SettingsError

KEY_1 = base64.b64encode(bytes(range(32))).decode()
KEY_2 = base64.b64encode(bytes(range(1, 33))).decode()


def production_env(**extra: str) -> dict[str, str]:
    return {"MYNAPORTAL_ENV": "production", "MYNAPORTAL_DATA_KEY": KEY_1, "MYNAPORTAL_LOOKUP_KEY": KEY_2,
            "MYNAPORTAL_DATABASE_URL": "postgresql://db.internal/portal",
            "MYNAPORTAL_PAYMENT_GATEWAY_SECRET": "gateway-secret-0123456789",
            "MYNAPORTAL_PAYMENT_CALLBACK_KEY": "callback-key-0123456789",
            "MYNAPORTAL_VAPID_SUBJECT": "mailto:push@portal.example.go.jp", **extra}


def test_development_generates_demo_keys_once_and_reuses_them(tmp_path: Path) -> None:
    keys_file = tmp_path / "demo-keys.json"
    env = {"MYNAPORTAL_DEMO_KEYS_FILE": str(keys_file)}
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.data_key == second.data_key and len(first.data_key) == 32
    assert first.data_key != first.lookup_key
    stored = json.loads(keys_file.read_text())
    assert all(value.startswith(DEMO_KEY_PREFIX) for value in stored.values())
    assert keys_file.stat().st_mode & 0o777 == 0o600


def test_development_defaults() -> None:
    settings = Settings.from_env({"MYNAPORTAL_DATA_KEY": KEY_1, "MYNAPORTAL_LOOKUP_KEY": KEY_2})
    assert settings.environment == "development"
    assert settings.graphiql and settings.introspection and not settings.persisted_only
    assert settings.database_url == "sqlite+aiosqlite:///var/mynaportal.sqlite3"


def test_production_settings_are_locked_down() -> None:
    settings = Settings.from_env(production_env())
    assert settings.production
    assert not settings.graphiql and not settings.introspection and settings.persisted_only
    assert settings.database_url == "postgresql+psycopg://db.internal/portal"
    assert settings.agency_client_certificates == "required"  # agency REST only over mutual TLS
    assert Settings.from_env({"MYNAPORTAL_DATA_KEY": KEY_1, "MYNAPORTAL_LOOKUP_KEY": KEY_2}
                             ).agency_client_certificates == "optional"


@pytest.mark.parametrize(
    ("_case", "overrides", "problem"),
    [
        ("demo data key", {"MYNAPORTAL_DATA_KEY": DEMO_KEY_PREFIX + KEY_1},
         "production refuses the demo key in MYNAPORTAL_DATA_KEY"),
        ("missing lookup key", {"MYNAPORTAL_LOOKUP_KEY": ""},
         "MYNAPORTAL_LOOKUP_KEY is required in production (base64 of 32 random bytes)"),
        ("graphiql", {"MYNAPORTAL_GRAPHIQL": "true"}, "production refuses MYNAPORTAL_GRAPHIQL=true"),
        ("introspection", {"MYNAPORTAL_INTROSPECTION": "1"}, "production refuses MYNAPORTAL_INTROSPECTION=true"),
        ("any document", {"MYNAPORTAL_PERSISTED_ONLY": "false"}, "production refuses MYNAPORTAL_PERSISTED_ONLY=false"),
        ("agency API without client certificates", {"MYNAPORTAL_AGENCY_CLIENT_CERTIFICATES": "optional"},
         "production refuses MYNAPORTAL_AGENCY_CLIENT_CERTIFICATES=optional"),
        ("short key", {"MYNAPORTAL_DATA_KEY": base64.b64encode(b"short").decode()},
         "MYNAPORTAL_DATA_KEY must decode to 32 bytes, not 5"),
        ("same keys", {"MYNAPORTAL_LOOKUP_KEY": KEY_1}, "MYNAPORTAL_DATA_KEY and MYNAPORTAL_LOOKUP_KEY must differ"),
        ("bad url", {"MYNAPORTAL_DATABASE_URL": "mysql://x"},
         "MYNAPORTAL_DATABASE_URL must be a sqlite:// or postgresql:// URL"),
    ],
)
def test_production_refuses(_case: str, overrides: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(production_env(**overrides))
    assert f"- {problem}" in str(raised.value).splitlines()


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"MYNAPORTAL_ENV": "staging", "MYNAPORTAL_MAX_DEPTH": "deep",
                           "MYNAPORTAL_DATA_KEY": KEY_1, "MYNAPORTAL_LOOKUP_KEY": KEY_2})
    assert str(raised.value).splitlines() == [
        "invalid settings:",
        "- MYNAPORTAL_ENV must be 'development' or 'production', not 'staging'",
        "- MYNAPORTAL_MAX_DEPTH must be an integer, not 'deep'",
    ]


def test_the_readme_documents_every_setting(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    documented = set(re.findall(r"^\| `(MYNAPORTAL_[A-Z_]+)` \|", readme, flags=re.MULTILINE))
    assert documented >= {setting.name for setting in SETTINGS}


def test_request_size_limits_are_read_and_bounded() -> None:
    keys = {"MYNAPORTAL_DATA_KEY": KEY_1, "MYNAPORTAL_LOOKUP_KEY": KEY_2}
    defaults = Settings.from_env(keys)
    assert (defaults.max_body_graphql, defaults.max_body_rest, defaults.max_body_webhooks,
            defaults.max_document_length) == (1 << 20, 256 << 10, 256 << 10, 100_000)
    chosen = Settings.from_env({**keys, "MYNAPORTAL_MAX_BODY_GRAPHQL": "2048", "MYNAPORTAL_MAX_BODY_REST": "4096",
                                "MYNAPORTAL_MAX_BODY_WEBHOOKS": "8192", "MYNAPORTAL_MAX_DOCUMENT_LENGTH": "500"})
    assert (chosen.max_body_graphql, chosen.max_body_rest, chosen.max_body_webhooks,
            chosen.max_document_length) == (2048, 4096, 8192, 500)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**keys, "MYNAPORTAL_MAX_BODY_REST": "10"})
    assert "MYNAPORTAL_MAX_BODY_REST must be at least 1024" in str(raised.value)


def test_key_generations_are_read_newest_first() -> None:
    settings = Settings.from_env(production_env(MYNAPORTAL_DATA_KEYS=f"3:{KEY_2}, 1:{KEY_1}",
                                                MYNAPORTAL_LOOKUP_KEYS=f"2:{KEY_1}"))
    assert settings.data_keys == ((3, bytes(range(1, 33))), (1, bytes(range(32))))
    assert settings.lookup_keys == ((2, bytes(range(32))),)
    assert Settings.from_env(production_env()).data_keys == ()


def test_key_generations_refuse_bad_entries_and_demo_keys_in_production() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(production_env(
            MYNAPORTAL_DATA_KEYS=f"2:{DEMO_KEY_PREFIX}{KEY_1},x:{KEY_1},1:{KEY_1},1:{KEY_2}",
            MYNAPORTAL_LOOKUP_KEYS="4:bm90MzI=,5:###", MYNAPORTAL_KEY_SOURCE="pkcs11"))
    assert str(raised.value).splitlines()[1:] == [
        "- production refuses the demo key of generation 2 in MYNAPORTAL_DATA_KEYS",
        "- MYNAPORTAL_DATA_KEYS: each entry is GENERATION:BASE64 with a generation from 1 to 32767",
        "- MYNAPORTAL_DATA_KEYS: generation 1 appears twice",
        "- MYNAPORTAL_LOOKUP_KEYS: generation 4 must decode to 32 bytes, not 5",
        "- MYNAPORTAL_LOOKUP_KEYS: generation 5 is not valid base64",
        "- MYNAPORTAL_KEY_SOURCE=pkcs11 needs MYNAPORTAL_HSM_MODULE, _TOKEN and _PIN",
    ]
    assert KEY_1 not in str(raised.value)



def test_with_keys_in_an_hsm_production_needs_no_lookup_key_in_the_environment(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("1234\n")
    env = production_env(MYNAPORTAL_KEY_SOURCE="pkcs11", MYNAPORTAL_HSM_MODULE="/usr/lib/softhsm/libsofthsm2.so",
                         MYNAPORTAL_HSM_TOKEN="portal", MYNAPORTAL_HSM_PIN_FILE=str(pin_file))
    del env["MYNAPORTAL_LOOKUP_KEY"]
    settings = Settings.from_env(env)
    assert (settings.key_source, settings.pkcs11_token, settings.pkcs11_pin, settings.lookup_key) == (
        "pkcs11", "portal", "1234", b"")
    del env["MYNAPORTAL_KEY_SOURCE"]
    with pytest.raises(SettingsError, match="MYNAPORTAL_LOOKUP_KEY is required in production"):
        Settings.from_env(env)


def test_previous_data_keys_are_read_in_order() -> None:
    settings = Settings.from_env(production_env(MYNAPORTAL_PREVIOUS_DATA_KEYS=f"{KEY_2}, {KEY_1}"))
    assert settings.previous_data_keys == (bytes(range(1, 33)), bytes(range(32)))
    with pytest.raises(SettingsError, match="production refuses the demo key of generation 1 in "
                                            "MYNAPORTAL_PREVIOUS_DATA_KEYS"):
        Settings.from_env(production_env(MYNAPORTAL_PREVIOUS_DATA_KEYS=f"{DEMO_KEY_PREFIX}{KEY_2}"))
