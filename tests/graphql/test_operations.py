"""Every persisted operation is a valid, single, uniquely named document within the limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, build_schema, parse, validate

from api.platform.settings import PROJECT_ROOT, Settings
from api.schema import SCHEMA_FILE
from api.schema.security import OperationRegistry, limit_rules

OPERATIONS = PROJECT_ROOT / "graphql" / "operations"
FILES = sorted(OPERATIONS.rglob("*.graphql"))


def test_operations_are_grouped_by_client() -> None:
    # phone and TV apps, and agencies' own systems (which authenticate with agency keys)
    assert {"phone", "tv"} <= {path.parent.name for path in FILES} <= {"phone", "tv", "agency"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_operation_is_valid_and_within_limits(path: Path) -> None:
    document = parse(path.read_text(encoding="utf-8"), max_tokens=Settings().max_tokens)
    [definition] = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    assert definition.name is not None and definition.name.value == path.stem
    defaults = Settings()
    rules = limit_rules(max_depth=defaults.max_depth, max_aliases=defaults.max_aliases, introspection=False)
    assert validate(build_schema(SCHEMA_FILE.read_text(encoding="utf-8")), document) == []
    assert validate(build_schema(SCHEMA_FILE.read_text(encoding="utf-8")), document, rules) == []


def test_registry_indexes_every_operation_by_the_hash_of_its_text() -> None:
    registry = OperationRegistry.load(OPERATIONS)
    assert sorted(registry.by_name) == sorted(path.stem for path in FILES)
    assert len(registry.by_hash) == len(FILES)


def test_registry_refuses_a_file_with_two_operations(tmp_path: Path) -> None:
    (tmp_path / "Two.graphql").write_text("query A { __typename }\nquery B { __typename }\n")
    with pytest.raises(ValueError, match="exactly one named operation"):
        OperationRegistry.load(tmp_path)
