"""The strawberry layer: builds the schema with its extensions from settings (api.schema.view says how a
request runs through them)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.directive import StrawberryDirective
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from api.platform.errors import PoolTimeout, log_pool_timeout
from api.platform.metrics import GRAPHQL_SECONDS, OTHER_OPERATION
from api.platform.settings import Settings
from api.schema.documents import SENT_OPERATION_NAME, CachedDocuments, DocumentCache
from api.schema.errors import classify, is_bad_input, logger, portal_cause
from api.schema.inputs import SCALAR_OVERRIDES
from api.schema.roots import EXTRA_TYPES, mutation_type, query_type, subscription_type
from api.schema.security import Gateway, OperationRegistry, gateway_rules_extension, limit_rules, sha256_hex
from api.schema.settings import SchemaSettings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "graphql" / "schema.graphql"
# What the parsed and validated documents may cost each worker (api.schema.documents): the allowlist's few
# dozen documents take well under 1 MiB; the rest is room for the ad-hoc documents of development.
DOCUMENT_CACHE_BYTES = 16 << 20


class PortalSchema(strawberry.Schema):
    """The schema, its gateway (api.schema.security), and the log of unexpected errors."""

    gateway: Gateway
    documents: DocumentCache

    async def execute(self, query: str | None, *args: Any, **kwargs: Any) -> ExecutionResult:
        # `execute` never runs a subscription: they are served over graphql-transport-ws (`subscribe`). Left
        # allowed, a subscription sent by POST or GET would run its resolver as a query and fail.
        allowed = kwargs.get("allowed_operation_types") or {OperationType.QUERY, OperationType.MUTATION}
        kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        sent = SENT_OPERATION_NAME.set(kwargs.get("operation_name"))
        started = time.perf_counter()
        try:
            return await super().execute(query, *args, **kwargs)
        finally:
            SENT_OPERATION_NAME.reset(sent)
            GRAPHQL_SECONDS.labels(self._operation_label(query, kwargs.get("operation_name"))).observe(
                time.perf_counter() - started)

    def _operation_label(self, query: str | None, name: str | None) -> str:
        """A persisted operation's name (found by its text, else by the name sent), else ``other``: the label's
        values stay the allowlist's few dozen whatever clients send."""
        registry = self.gateway.registry
        # Text that is not UTF-8 (a lone surrogate) was refused as bad input; its label must not fail the answer.
        if query is not None and _is_utf8(query):
            found = registry.by_hash.get(sha256_hex(query))
            if found is not None:
                return found.name
        return name if name in registry.by_name else OTHER_OPERATION

    async def stream(self, query: str | None, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        # A refusal raised by the gateway before parsing (not persisted, refused text...) escapes strawberry's
        # stream: over graphql-transport-ws the client got a bare `complete` and the log a traceback. As a
        # result before execution it gets the protocol's `error` message instead.
        return _answering_refusals(await super().stream(query, *args, **kwargs), kwargs.get("operation_name"))

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Strawberry calls this once per result, before any extension changes the errors. Only unexpected
        # failures are logged, with their traceback; the log filter redacts numbers.
        for error in errors:
            original = error.original_error
            if isinstance(original, PoolTimeout):
                log_pool_timeout(".".join(map(str, error.path or [])) or "operation")
            elif original is not None and portal_cause(error) is None and not is_bad_input(error):
                logger.error("unexpected error in %s", ".".join(map(str, error.path or [])) or "operation",
                             exc_info=original)


async def _answering_refusals(source: AsyncGenerator[Any, None], operation_name: str | None
                              ) -> AsyncGenerator[Any, None]:
    # The stream runs in the task that iterates it (one per subscription): the name is set for that task.
    SENT_OPERATION_NAME.set(operation_name)
    async with aclosing(source):
        try:
            first = await anext(source)
        except StopAsyncIteration:
            return
        except GraphQLError as refused:
            yield PreExecutionError(data=None, errors=[classify(refused)])
            return
        yield first
        async for result in source:
            yield result


def build_schema(
    settings: Settings,
    registry: OperationRegistry | None = None,
    *,
    extensions: Iterable[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    directives: Iterable[StrawberryDirective[Any]] = (),
) -> PortalSchema:
    """The schema; ``extensions`` and ``directives`` are added to the portal's own, and run on every request.
    Of ``settings`` it reads only their SchemaSettings."""
    chosen = SchemaSettings.of(settings)
    registry = registry or OperationRegistry.load(chosen.operations_dir)
    rules = limit_rules(max_depth=chosen.max_depth, max_aliases=chosen.max_aliases,
                        introspection=chosen.introspection)
    gateway = Gateway(registry, persisted_only=chosen.persisted_only, max_tokens=chosen.max_tokens,
                      max_document_length=chosen.max_document_length, rules=rules, max_file=chosen.max_file)
    documents = DocumentCache(DOCUMENT_CACHE_BYTES)
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
            lambda: CachedDocuments(documents),
            *extensions,
        ],
        # Suggestions would reveal the schema wherever introspection is off.
        config=StrawberryConfig(disable_field_suggestions=not chosen.introspection),
        scalar_overrides=SCALAR_OVERRIDES,
    )
    schema.gateway = gateway
    schema.documents = documents
    return schema


def schema_sdl() -> str:
    """The SDL as exported to graphql/schema.graphql (independent of runtime settings)."""
    return build_schema(Settings()).as_str() + "\n"


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
