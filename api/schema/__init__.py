"""The strawberry layer: builds the schema with its extensions from settings (api.schema.view says how a
request runs through them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.directive import StrawberryDirective
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.platform.errors import PortalError
from api.platform.settings import Settings
from api.schema.errors import logger
from api.schema.roots import EXTRA_TYPES, mutation_type, query_type, subscription_type
from api.schema.security import Gateway, OperationRegistry, gateway_rules_extension, limit_rules

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "graphql" / "schema.graphql"
# Documents whose parse and validation strawberry's caches keep (the allowlist holds a few dozen).
DOCUMENT_CACHE_SIZE = 256


class PortalSchema(strawberry.Schema):
    """The schema, its gateway (api.schema.security), and the log of unexpected errors."""

    gateway: Gateway

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Strawberry calls this once per result, before any extension changes the errors. Only unexpected
        # failures are logged, with their traceback; the log filter redacts numbers.
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, PortalError):
                logger.error("unexpected error in %s", ".".join(map(str, error.path or [])) or "operation",
                             exc_info=original)


class CachedParse(ParserCache):
    """Strawberry's ParserCache, except that a document that does not parse is left to strawberry's own
    parse step, which answers it as an error before execution. (ParserCache's error escapes the hook: over
    a WebSocket the operation would fail instead of answering, and no extension would see the result.)"""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


def build_schema(
    settings: Settings,
    registry: OperationRegistry | None = None,
    *,
    extensions: Iterable[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    directives: Iterable[StrawberryDirective[Any]] = (),
) -> PortalSchema:
    """The schema; ``extensions`` and ``directives`` are added to the portal's own, and run on every request."""
    registry = registry or OperationRegistry.load(settings.operations_dir)
    rules = limit_rules(max_depth=settings.max_depth, max_aliases=settings.max_aliases,
                        introspection=settings.introspection)
    gateway = Gateway(registry, persisted_only=settings.persisted_only, max_tokens=settings.max_tokens,
                      rules=rules)
    schema = PortalSchema(
        query=query_type(),
        mutation=mutation_type(),
        subscription=subscription_type(),
        types=list(EXTRA_TYPES),
        directives=directives,
        # The gateway first: it picks the document and sets the limits that parsing and validation apply (both
        # cached per document and limits), and, last out, gives every error its code.
        extensions=[
            gateway_rules_extension(gateway),
            lambda: CachedParse(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
            *extensions,
        ],
        # Suggestions would reveal the schema wherever introspection is off.
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection),
    )
    schema.gateway = gateway
    return schema


def schema_sdl() -> str:
    """The SDL as exported to graphql/schema.graphql (independent of runtime settings)."""
    return build_schema(Settings()).as_str() + "\n"
