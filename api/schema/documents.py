"""The document cache: each GraphQL document parsed and validated once, the cache bounded in bytes.

Strawberry's ParserCache and ValidationCache key an LRU on the whole text and count entries: 256 documents of
1 MiB each would be 256 MiB of keys alone, plus what each parsed document keeps (its source, every token).
Here the key is the SHA-256 of the text and the parse options, and the cache holds at most ``max_bytes`` of
what its entries cost (their text, and a bound per token for the AST and the token list); a document that
alone costs more than an eighth of that is parsed and validated each time, never kept.

Validation adds two rules of the portal: the string literals of the document are checked like any other
text (api.platform.text), and a document with several operations must name the one to run.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    StringValueNode,
    validate,
)
from graphql.language import Visitor, visit
from graphql.language import parse as graphql_parse
from strawberry.extensions import SchemaExtension

from api.platform.errors import ErrorCode, PortalError
from api.platform.text import check_text
from api.schema.errors import coded_error

# What an AST node and its token cost beyond the text, per token (measured: ~400 bytes a token with locations).
TOKEN_COST = 512


@dataclass
class _Entry:
    document: DocumentNode
    cost: int
    # Validation errors per set of rules (the rules are the same classes on every request).
    validations: dict[tuple[type[ASTValidationRule], ...], list[GraphQLError]] = field(default_factory=dict)


class DocumentCache:
    """An LRU of parsed documents (and their validation), keyed by hash, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def parse(self, text: str, options: dict[str, Any]) -> tuple[str, DocumentNode]:
        """(key, document); raises GraphQLError when the document does not parse or a literal is refused."""
        key = hashlib.sha256(repr(sorted(options.items())).encode() + b"\0"
                             + text.encode("utf-8", "surrogatepass")).hexdigest()
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return key, entry.document
        document = graphql_parse(text, **options)
        cost = len(text) + TOKEN_COST * _token_count(document)
        if cost <= self.max_bytes // 8:
            self._entries[key] = _Entry(document, cost)
            self.bytes += cost
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.cost
        return key, document

    def validate(self, key: str | None, schema: GraphQLSchema, document: DocumentNode,
                 rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
        """graphql-core's validation, and the document's string literals checked as text."""
        entry = self._entries.get(key) if key is not None else None
        if entry is None or entry.document is not document:
            return _validate(schema, document, rules)
        errors = entry.validations.get(rules)
        if errors is None:
            errors = entry.validations[rules] = _validate(schema, document, rules)
        return errors


def _validate(schema: GraphQLSchema, document: DocumentNode,
              rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
    errors = validate(schema, document, rules)
    try:
        visit(document, _Literals())
    except PortalError as error:
        errors = [*errors, GraphQLError(error.message, original_error=error)]
    return errors


def _token_count(document: DocumentNode) -> int:
    location = document.loc
    if location is None:
        return 0
    count, token = 0, location.start_token
    while token is not None:
        count += 1
        token = token.next
    return count


class _Literals(Visitor):
    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        check_text(node.value, "a string in the document")


def operation_name_problem(document: DocumentNode, operation_name: str | None) -> GraphQLError | None:
    """GraphQL §6.1: without an operation name, a document must hold exactly one operation."""
    if operation_name is not None:
        return None
    operations = sum(isinstance(definition, OperationDefinitionNode) for definition in document.definitions)
    if operations > 1:
        return coded_error(ErrorCode.GRAPHQL_VALIDATION_FAILED,
                           "The document holds several operations: operationName must name the one to run.")
    return None


class CachedDocuments(SchemaExtension):
    """Parsing and validation through one schema's DocumentCache (made per request; the cache is shared)."""

    def __init__(self, cache: DocumentCache) -> None:
        super().__init__()
        self.cache = cache
        self._key: str | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None:
            try:
                self._key, context.graphql_document = self.cache.parse(context.query, context.parse_options)
            except GraphQLError:
                # Left to strawberry's own parse step, which answers it as an error before execution (an
                # error raised in this hook would escape the pipeline over a WebSocket).
                pass
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            errors = self.cache.validate(self._key, context.schema._schema, document,
                                         tuple(context.validation_rules))
            # `operation_name` falls back to the first operation's name: what the client sent is kept apart.
            problem = operation_name_problem(document, context._provided_operation_name)
            context.pre_execution_errors = [*errors, problem] if problem is not None else errors
        yield
