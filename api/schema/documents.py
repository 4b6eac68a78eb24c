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
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
)
from graphql.language import parse as graphql_parse
from strawberry.extensions import SchemaExtension

from api.platform.errors import ErrorCode, PortalError
from api.platform.text import check_text
from api.schema.errors import coded_error

# What an AST node and its token cost beyond the text, per token (measured: ~400 bytes a token with locations).
TOKEN_COST = 512

# The operationName the client sent, as given to PortalSchema.execute/stream: strawberry's execution context
# answers the first operation's name when none was sent, and keeps what was sent only in a private field.
SENT_OPERATION_NAME: ContextVar[str | None] = ContextVar("sent_operation_name", default=None)


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

    def clear(self) -> None:
        """Every document forgotten: the schema's next app starts cold (tests reuse one schema per process)."""
        self._entries.clear()
        self.bytes = 0

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

    def validation(self, key: str | None, document: DocumentNode,
                   rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError] | None:
        """The errors kept for this document under these rules, or None when not validated yet."""
        entry = self._entries.get(key) if key is not None else None
        if entry is None or entry.document is not document:
            return None
        return entry.validations.get(rules)

    def keep_validation(self, key: str | None, document: DocumentNode,
                        rules: tuple[type[ASTValidationRule], ...], errors: list[GraphQLError]) -> None:
        entry = self._entries.get(key) if key is not None else None
        if entry is not None and entry.document is document:
            entry.validations[rules] = errors


def _token_count(document: DocumentNode) -> int:
    location = document.loc
    if location is None:
        return 0
    count, token = 0, location.start_token
    while token is not None:
        count += 1
        token = token.next
    return count


class StringLiterals(ValidationRule):
    """The document's string literals are text like any other (api.platform.text)."""

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        try:
            check_text(node.value, "a string in the document")
        except PortalError as refused:
            self.report_error(GraphQLError(refused.message, nodes=[node], original_error=refused))


class OneOperationWithoutName(ValidationRule):
    """GraphQL §6.1: without an operation name, a document must hold exactly one operation (added to the rules
    only when the client sent no operationName)."""

    def enter_document(self, node: DocumentNode, *_: object) -> None:
        if sum(isinstance(definition, OperationDefinitionNode) for definition in node.definitions) > 1:
            self.report_error(coded_error(
                ErrorCode.GRAPHQL_VALIDATION_FAILED,
                "The document holds several operations: operationName must name the one to run."))


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
        # Strawberry validates (with its own rules added) between entering and leaving this hook, unless errors
        # are already set: a kept validation is set before, a new one kept after. The portal's rules are added
        # here; which ones depends only on whether an operationName was sent, so they key the kept validation.
        context = self.execution_context
        document = context.graphql_document
        extra: tuple[type[ASTValidationRule], ...] = (StringLiterals,) if SENT_OPERATION_NAME.get() is not None \
            else (StringLiterals, OneOperationWithoutName)
        rules = context.validation_rules = (*context.validation_rules, *extra)
        kept = self.cache.validation(self._key, document, rules) if document is not None else None
        if kept is not None:
            context.pre_execution_errors = kept
        yield
        if document is not None and kept is None:
            self.cache.keep_validation(self._key, document, rules, list(context.pre_execution_errors or []))
