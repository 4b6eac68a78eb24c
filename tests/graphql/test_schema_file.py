"""graphql/ holds the exported SDL and the clients' operations, and no Python."""

from __future__ import annotations

from pathlib import Path

import graphql

from api.schema import SCHEMA_FILE, schema_sdl


def test_the_committed_sdl_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_sdl(), (
        "graphql/schema.graphql is stale: run `mynaportal export-schema` and commit the result")


def test_graphql_folder_holds_no_python(repo_root: Path) -> None:
    assert list((repo_root / "graphql").rglob("*.py")) == []


def test_graphql_core_is_not_shadowed(repo_root: Path) -> None:
    assert "site-packages" in Path(graphql.__file__).parts
