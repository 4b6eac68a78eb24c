from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from tests.schema_cache import shared_schema

VIEWER = "query Viewer { viewer { name } }"


def test_settings_that_agree_on_the_schema_share_one_with_an_empty_document_cache() -> None:
    first = shared_schema(make_settings("sqlite+aiosqlite:///one.sqlite3"))
    first.documents.parse(VIEWER, {})
    assert len(first.documents) == 1
    second = shared_schema(make_settings("sqlite+aiosqlite:///two.sqlite3", public_url="https://other.test"))
    assert second is first
    assert (len(second.documents), second.documents.bytes) == (0, 0)


def test_a_setting_the_schema_reads_gets_its_own() -> None:
    default = shared_schema(make_settings())
    persisted = shared_schema(make_settings(persisted_only=True))
    assert persisted is not default
    assert (persisted.gateway.persisted_only, default.gateway.persisted_only) == (True, False)
    assert shared_schema(make_settings(persisted_only=True)) is persisted


def test_a_changed_allowlist_is_loaded_again(tmp_path: Path) -> None:
    (tmp_path / "Viewer.graphql").write_text(VIEWER, encoding="utf-8")
    settings = make_settings(operations_dir=tmp_path)
    before = shared_schema(settings)
    assert set(before.gateway.registry.by_name) == {"Viewer"}
    assert shared_schema(settings) is before
    (tmp_path / "Name.graphql").write_text("query Name { viewer { name } }", encoding="utf-8")
    after = shared_schema(settings)
    assert after is not before
    assert set(after.gateway.registry.by_name) == {"Viewer", "Name"}
