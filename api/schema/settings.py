"""What of the settings a GraphQL schema is built from: build_schema reads the settings only through
SchemaSettings, so two settings with equal SchemaSettings build equal schemas (tests share one per process)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.platform.limits import attachment_limits
from api.platform.settings import Settings


@dataclass(frozen=True)
class SchemaSettings:
    operations_dir: Path
    persisted_only: bool
    introspection: bool
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_document_length: int
    # The longest base64 attachment a variable may carry: a file as large as the body may hold, so the resolver
    # names what is too large.
    max_file: int

    @classmethod
    def of(cls, settings: Settings) -> SchemaSettings:
        return cls(operations_dir=settings.operations_dir, persisted_only=settings.persisted_only,
                   introspection=settings.introspection, max_depth=settings.max_depth,
                   max_aliases=settings.max_aliases, max_tokens=settings.max_tokens,
                   max_document_length=settings.max_document_length,
                   max_file=attachment_limits(settings.max_attachment_bytes, settings.max_body_graphql)[0])
