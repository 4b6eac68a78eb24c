"""The strawberry layer: builds the schema with its extensions from settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLError, execute, get_operation_ast
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult

from api.schema.errors import PublicError, classify, logger
from api.schema.execution import DirectExecutor, PortalExecutionContext
from api.schema.roots import EXTRA_TYPES, mutation_type, query_type, subscription_type
from api.schema.security import Gateway, GatewayRules, OperationRegistry, gateway_rules_extension, limit_rules
from api.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "graphql" / "schema.graphql"


class PortalSchema(strawberry.Schema):
    """The schema with one error policy applied to every result, whichever stage the error came from,
    and its gateway (api.schema.security)."""

    gateway: Gateway

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [classify(error) for error in result.errors]
        return result

    @property
    def runs_documents_directly(self) -> bool:
        """Whether ``execute_document`` gives what ``execute`` gives: no custom directives and no extension but
        the gateway's (strawberry runs directives and extension hooks only in its own pipeline, so adding
        either turns the direct path off rather than skipping them)."""
        return not self.directives and all(isinstance(extension, type) and issubclass(extension, GatewayRules)
                                           for extension in self.extensions)

    async def execute_document(
        self, document: DocumentNode, *, context_value: Any, variable_values: dict[str, Any] | None,
        operation_name: str | None, operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """Run a document the gateway has already parsed and validated, straight on graphql-core.

        ``execute`` runs strawberry's extension pipeline around the same call; for a validated document
        whose checks are all in the gateway that pipeline only costs time (api.schema.view).
        """
        try:
            operation = get_operation_ast(document, operation_name)
            executor = operation and DirectExecutor.for_operation(
                self._schema, document, operation, context_value=context_value, variable_values=variable_values,
                operation_extensions=operation_extensions, is_awaitable=optimized_is_awaitable)
            if isinstance(executor, DirectExecutor):
                result = executor.execute_operation()
            elif executor:  # the variables' errors
                result = ExecutionResult(data=None, errors=executor)
            else:
                result = execute(self._schema, document, context_value=context_value, variable_values=variable_values,
                                 operation_name=operation_name, is_awaitable=optimized_is_awaitable,
                                 executor_class=self.execution_context_class,
                                 operation_extensions=operation_extensions)
            if optimized_is_awaitable(result):
                result = await result
        except Exception as unexpected:
            result = ExecutionResult(data=None, errors=[
                unexpected if isinstance(unexpected, GraphQLError)
                else GraphQLError(str(unexpected), original_error=unexpected)])
        errors = result.errors
        if errors:
            self._process_errors(errors)  # as strawberry: suggestions removed if configured, then logged
            errors = [classify(error) for error in errors]
        return ExecutionResult(data=result.data, errors=errors or None)

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
    gateway = Gateway(registry, persisted_only=settings.persisted_only, max_tokens=settings.max_tokens,
                      rules=rules)
    schema = PortalSchema(
        query=query_type(),
        mutation=mutation_type(),
        subscription=subscription_type(),
        types=list(EXTRA_TYPES),
        extensions=[gateway_rules_extension(gateway)],
        execution_context_class=PortalExecutionContext,
        # Suggestions would reveal the schema wherever introspection is off.
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection),
    )
    schema.gateway = gateway
    return schema


def schema_sdl() -> str:
    """The SDL as exported to graphql/schema.graphql (independent of runtime settings)."""
    return build_schema(Settings()).as_str() + "\n"
