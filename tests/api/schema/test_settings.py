from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.platform.limits import attachment_limits
from api.platform.settings import PROJECT_ROOT, Settings
from api.schema import build_schema
from api.schema.security import FILE_VARIABLE
from api.schema.settings import SchemaSettings
from tests.conftest import make_settings


def test_the_schema_settings_are_taken_from_the_settings() -> None:
    settings = make_settings(persisted_only=True, introspection=False, max_depth=7, max_aliases=3, max_tokens=900,
                             max_document_length=5000, max_attachment_bytes=1000, max_body_graphql=100)
    assert SchemaSettings.of(settings) == SchemaSettings(
        operations_dir=PROJECT_ROOT / "graphql" / "operations", persisted_only=True, introspection=False,
        max_depth=7, max_aliases=3, max_tokens=900, max_document_length=5000,
        max_file=attachment_limits(1000, 100)[0])


def test_settings_the_schema_does_not_read_leave_them_equal() -> None:
    assert SchemaSettings.of(make_settings("sqlite+aiosqlite:///other.sqlite3", public_url="https://elsewhere.test",
                                           corporate_rate=1, graphiql=False)) == SchemaSettings.of(make_settings())


@pytest.mark.parametrize("override", [
    {"operations_dir": Path("elsewhere")}, {"persisted_only": True}, {"introspection": False}, {"max_depth": 3},
    {"max_aliases": 2}, {"max_tokens": 50}, {"max_document_length": 10}, {"max_attachment_bytes": 10 << 20},
    {"max_body_graphql": 100 << 20},
], ids=lambda override: next(iter(override)))
def test_each_setting_the_schema_reads_makes_them_differ(override: dict[str, Any]) -> None:
    assert SchemaSettings.of(make_settings(**override)) != SchemaSettings.of(make_settings())


class _Reads:
    """Settings that note which of them are read."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.names: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.names.add(name)
        return getattr(self._settings, name)


def test_build_schema_reads_no_setting_outside_the_schema_settings() -> None:
    # What lets equal SchemaSettings share one schema (tests.schema_cache): a setting read here and not in
    # SchemaSettings would be missed by its key.
    reads = _Reads(make_settings())
    schema = build_schema(reads)  # type: ignore[arg-type]
    assert reads.names == {"operations_dir", "persisted_only", "introspection", "max_depth", "max_aliases",
                           "max_tokens", "max_document_length", "max_attachment_bytes", "max_body_graphql"}
    assert schema.gateway.files == {FILE_VARIABLE: attachment_limits(5 << 20, 1 << 20)[0]}
