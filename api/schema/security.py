"""Hardening: depth, alias and token limits, introspection policy, and persisted operations.

The limit rules are classes built once per schema, not per request: strawberry's stock limiters
make a new rule class per request, and a validation cache keyed on the rule classes would never hit
(strawberry#4635; ../shared/reference/style.md §3.7). All of it runs in one extension, GatewayRules.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    ValidationContext,
    parse,
    specified_rules,
)
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.schema import validate_document

from api.schema.errors import ErrorCode, coded_error


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


@dataclass
class _Prepared:
    document: DocumentNode
    errors: list[GraphQLError] | None = None  # None until first validated


class DocumentCache:
    """Parsed documents and their validation results, keyed by the document text (bounded LRU).

    A document is a pure function of its text (and the token limit, fixed per schema), and its
    validation of the schema and the rules (fixed per schema too), so both are cached under the text:
    no hashing of the AST per request, as strawberry's ValidationCache does.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[str, _Prepared] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, text: str) -> _Prepared | None:
        entry = self._entries.get(text)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
            self._entries.move_to_end(text)
        return entry

    def put(self, text: str, entry: _Prepared) -> None:
        self._entries[text] = entry
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


class Gateway:
    """Every gateway rule, for one schema:

    - persisted operations, Apollo's APQ wire shape: ``extensions.persistedQuery.sha256Hash`` (version 1)
      instead of the text. Unknown hashes get PERSISTED_QUERY_NOT_FOUND; in persisted-only mode a document
      not in the allowlist gets PERSISTED_QUERY_REQUIRED. Clients cannot register documents at run time;
    - the token limit, enforced while parsing;
    - the depth, alias and introspection rules, as classes built once (see the module docstring);
    - parsing and validation cached per document text (``DocumentCache``).

    Strawberry's pipeline applies it through the ``GatewayRules`` extension; the view's direct path
    (api.schema.view) calls it itself.
    """

    def __init__(self, registry: OperationRegistry, *, persisted_only: bool, max_tokens: int,
                 rules: list[type[ASTValidationRule]], cache_size: int = 256) -> None:
        self.registry = registry
        self.persisted_only = persisted_only
        self.max_tokens = max_tokens
        self.rules = tuple(rules)
        self.validation_rules = (*specified_rules, *rules)
        self.documents = DocumentCache(cache_size)

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

    def parsed(self, text: str) -> _Prepared:
        entry = self.documents.get(text)
        if entry is None:
            # A syntax error or too many tokens raises here and is not cached.
            entry = _Prepared(parse(text, max_tokens=self.max_tokens))
            self.documents.put(text, entry)
        return entry

    def validation_errors(self, schema: GraphQLSchema, entry: _Prepared) -> list[GraphQLError]:
        """The document's validation errors: graphql-core's rules, strawberry's own two (through its
        ``validate_document``, as strawberry's pipeline runs them) and the gateway's limits."""
        if entry.errors is None:
            entry.errors = validate_document(schema, entry.document, self.validation_rules)
        return entry.errors

    def valid_document(self, schema: GraphQLSchema, text: str) -> DocumentNode | None:
        """The parsed document of ``text`` when it parses and validates; None when it does not."""
        try:
            entry = self.parsed(text)
        except GraphQLError:
            return None
        return entry.document if not self.validation_errors(schema, entry) else None


class GatewayRules(SchemaExtension):
    """The gateway's rules in strawberry's pipeline (one extension: strawberry builds and runs each
    extension per request, so one instead of five saves work on every operation)."""

    gateway: ClassVar[Gateway]

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.query = self.gateway.document_text(context.query, context.operation_extensions)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        self._entry: _Prepared | None = None
        if context.query is not None:
            self._entry = self.gateway.parsed(context.query)
            context.graphql_document = self._entry.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self._entry
        if entry is not None and entry.document is context.graphql_document:
            # Set even when empty: strawberry then does not validate again.
            context.pre_execution_errors = self.gateway.validation_errors(context.schema._schema, entry)
        yield


def gateway_rules_extension(gateway: Gateway) -> type[GatewayRules]:
    """The extension class for one schema's gateway."""
    return type("GatewayRulesFor", (GatewayRules,), {"gateway": gateway})
