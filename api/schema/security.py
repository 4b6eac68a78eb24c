"""Hardening: depth, alias and token limits, introspection policy, persisted operations, and every error of
every result given its code (api.schema.errors).

The limit rules are classes built once per schema, not per request: strawberry's stock limiters
make a new rule class per request, and strawberry's ValidationCache, keyed on the rule classes, would
never hit (strawberry#4635; ../shared/reference/style.md §3.7). All of it runs in one extension,
GatewayRules, ahead of strawberry's own parser and validation caches (api.schema.build_schema).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from graphql import (
    ASTValidationRule,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    ValidationContext,
    parse,
)
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension

from api.platform.errors import ErrorCode, PortalError
from api.platform.text import check_json_texts, check_text
from api.schema.documents import SENT_OPERATION_NAME
from api.schema.errors import classify, coded_error


def _coded_rule(base: type[ASTValidationRule], code: ErrorCode) -> type[ASTValidationRule]:
    """The rule, with ``code`` on every error it reports.

    Strawberry's limiters report straight to the validation context from ``__init__``, so the
    context's ``report_error`` is shadowed while the rule is built; visitor-time reports go through
    the overridden ``report_error``.
    """

    def tag(error: GraphQLError) -> GraphQLError:
        error.extensions = {**(error.extensions or {}), "code": code.value}
        return error

    class CodedRule(base):  # type: ignore[valid-type, misc]
        def __init__(self, context: ValidationContext) -> None:
            report = context.report_error
            context.report_error = lambda error: report(tag(error))  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                del context.report_error

        def report_error(self, error: GraphQLError) -> None:
            super().report_error(tag(error))

    CodedRule.__name__ = f"{base.__name__}With{code.title().replace('_', '')}"
    return CodedRule


def limit_rules(*, max_depth: int, max_aliases: int, introspection: bool) -> list[type[ASTValidationRule]]:
    rules = [
        _coded_rule(QueryDepthLimiter(max_depth=max_depth).validation_rules[0], ErrorCode.QUERY_TOO_DEEP),
        _coded_rule(MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules[0],
                    ErrorCode.TOO_MANY_ALIASES),
    ]
    if not introspection:
        rules.append(_coded_rule(NoSchemaIntrospectionCustomRule, ErrorCode.INTROSPECTION_DISABLED))
    return rules


@dataclass(frozen=True)
class PersistedOperation:
    name: str
    path: Path
    document: str
    sha256: str


FILE_VARIABLE = "variables.content"


class OperationRegistry:
    """The allowlist: every ``graphql/operations/**/*.graphql`` file, indexed by the sha256 of its text."""

    def __init__(self, operations: list[PersistedOperation]) -> None:
        self.by_hash = {op.sha256: op for op in operations}
        self.by_name = {op.name: op for op in operations}

    @classmethod
    def load(cls, folder: Path) -> OperationRegistry:
        operations = []
        for path in sorted(folder.rglob("*.graphql")):
            text = path.read_text(encoding="utf-8")
            names = [d.name.value for d in parse(text).definitions
                     if isinstance(d, OperationDefinitionNode) and d.name is not None]
            if len(names) != 1:
                raise ValueError(f"{path} must hold exactly one named operation")
            operations.append(PersistedOperation(names[0], path, text, sha256_hex(text)))
        registry = cls(operations)
        if len(registry.by_name) != len(operations) or len(registry.by_hash) != len(operations):
            raise ValueError(f"duplicate operation names or documents under {folder}")
        return registry


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Gateway:
    """Every gateway rule, for one schema:

    - persisted operations, Apollo's APQ wire shape: ``extensions.persistedQuery.sha256Hash`` (version 1)
      instead of the text. Unknown hashes get PERSISTED_QUERY_NOT_FOUND; in persisted-only mode a document
      not in the allowlist gets PERSISTED_QUERY_REQUIRED. Clients cannot register documents at run time;
    - the token limit (comments count) and the document length, enforced while parsing;
    - the variables' text and integers checked at the edge (api.platform.text);
    - the depth, alias and introspection rules, as classes built once (see the module docstring).

    Strawberry's pipeline applies it through the ``GatewayRules`` extension.
    """

    def __init__(self, registry: OperationRegistry, *, persisted_only: bool, max_tokens: int,
                 rules: list[type[ASTValidationRule]], max_document_length: int | None = None,
                 max_file: int = 0) -> None:
        self.registry = registry
        # The variable that carries an attachment's base64 (the persisted AttachToApplication's ``$content``)
        # may be this long; every other string is text.
        self.files = {FILE_VARIABLE: max_file}
        self.persisted_only = persisted_only
        self.max_tokens = max_tokens
        self.max_document_length = max_document_length
        self.rules = tuple(rules)

    def document_text(self, query: str | None, extensions: dict[str, object] | None) -> str | None:
        """The text to run: the persisted document for a hash, else the query sent (if it is allowed)."""
        requested = (extensions or {}).get("persistedQuery")
        if requested is not None:
            digest = requested.get("sha256Hash") if isinstance(requested, dict) else None
            if not isinstance(digest, str):
                raise coded_error(ErrorCode.PERSISTED_QUERY_NOT_FOUND, "The persisted query hash is missing.")
            operation = self.registry.by_hash.get(digest.lower())
            if operation is None:
                raise coded_error(ErrorCode.PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
            if query and sha256_hex(query) != operation.sha256:
                raise coded_error(ErrorCode.PERSISTED_QUERY_HASH_MISMATCH,
                                  "The document does not match the persisted query hash.")
            return operation.document
        if self.persisted_only and query and sha256_hex(query) not in self.registry.by_hash:
            raise coded_error(ErrorCode.PERSISTED_QUERY_REQUIRED,
                              "Only persisted operations are accepted by this server.")
        return query


class GatewayRules(SchemaExtension):
    """The gateway in strawberry's pipeline, first of the schema's extensions.

    Before parsing: the document to run, the token limit as a parse option (strawberry's parser cache keys
    on it) and the limit rules added to validation (the same classes every time, so strawberry's validation
    cache hits). On the way out, last: every error of the result as the client should see it
    (api.schema.errors.classify: its code, masked when internal), or of each result of a stream
    (subscriptions), as strawberry's MaskErrors does. One extension for both, since strawberry sets up each
    extension's hooks on every request.
    """

    gateway: ClassVar[Gateway]

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        gateway = self.gateway
        # A refusal raised here is already coded (api.schema.errors.coded_error): strawberry answers it as
        # an error before execution.
        context.query = gateway.document_text(context.query, context.operation_extensions)
        try:
            check_json_texts(context.variables, "variables", files=gateway.files)
            sent_name = SENT_OPERATION_NAME.get()
            if sent_name is not None:
                check_text(sent_name, "operationName", max_length=1000)
        except PortalError as refused:
            raise GraphQLError(refused.message, original_error=refused) from None
        # max_tokens (not max_lexical_tokens) counts comments too, and stops while skipping a run of them.
        context.parse_options["max_tokens"] = gateway.max_tokens
        if gateway.max_document_length is not None:
            context.parse_options["max_source_length"] = gateway.max_document_length
        context.validation_rules = (*context.validation_rules, *gateway.rules)
        self._streamed = False
        yield
        if not self._streamed:
            classify_errors(context.result)

    def on_stream_result(self, result: object) -> Iterator[None]:
        self._streamed = True
        classify_errors(result)
        yield


def classify_errors(result: object) -> None:
    """Replace a result's errors by what the client should see of them."""
    errors = getattr(result, "errors", None)
    if errors:
        result.errors = [classify(error) for error in errors]  # type: ignore[attr-defined]


def gateway_rules_extension(gateway: Gateway) -> type[GatewayRules]:
    """The extension class for one schema's gateway."""
    return type("GatewayRulesFor", (GatewayRules,), {"gateway": gateway})
