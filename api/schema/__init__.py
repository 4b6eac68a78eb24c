"""The strawberry layer: builds the schema with its extensions from settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult

from api.schema.errors import PublicError, classify, logger
from api.schema.roots import EXTRA_TYPES, mutation_type, query_type, subscription_type
from api.schema.security import (
    OperationRegistry,
    gateway_rules_extension,
    limit_rules,
)
from api.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "graphql" / "schema.graphql"


class PortalSchema(strawberry.Schema):
    """The schema with one error policy applied to every result, whichever stage the error came from."""

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [classify(error) for error in result.errors]
        return result

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Only unexpected failures are logged, with their traceback; the log filter redacts numbers.
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, PublicError):
                logger.error("unexpected error in %s", ".".join(map(str, error.path or [])) or "operation",
                             exc_info=original)


def build_schema(settings: Settings, registry: OperationRegistry | None = None) -> PortalSchema:
    registry = registry or OperationRegistry.load(settings.operations_dir)
    rules = limit_rules(max_depth=settings.max_depth, max_aliases=settings.max_aliases,
                        introspection=settings.introspection)
    extensions = [gateway_rules_extension(registry, persisted_only=settings.persisted_only,
                                          max_tokens=settings.max_tokens, rules=rules)]
    return PortalSchema(
        query=query_type(),
        mutation=mutation_type(),
        subscription=subscription_type(),
        types=list(EXTRA_TYPES),
        extensions=extensions,
        # Suggestions would reveal the schema wherever introspection is off.
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection),
    )


def schema_sdl() -> str:
    """The SDL as exported to graphql/schema.graphql (independent of runtime settings)."""
    return build_schema(Settings()).as_str() + "\n"
