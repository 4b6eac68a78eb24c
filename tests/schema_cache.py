"""One GraphQL schema per test process for each distinct SchemaSettings: building it cost ~47 ms of CPU per app
(strawberry converting every type), and most database tests start an app. The schema holds no per-app state
(the app's engine, cipher, brokers and caches of sessions are in the view and the request's context), except its
cache of parsed documents, emptied each time the schema is handed out: every app starts cold, as a new one would.
"""

from __future__ import annotations

from pathlib import Path

from api.platform.settings import Settings
from api.schema import PortalSchema, build_schema
from api.schema.settings import SchemaSettings

_SCHEMAS: dict[tuple[SchemaSettings, tuple[tuple[str, int, int], ...]], PortalSchema] = {}


def _allowlist_files(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Each operation file's path, size and modification time: the allowlist is loaded again when one changes."""
    return tuple((str(path), (stat := path.stat()).st_size, stat.st_mtime_ns)
                 for path in sorted(folder.rglob("*.graphql")))


def shared_schema(settings: Settings) -> PortalSchema:
    """The schema ``build_schema(settings)`` builds, built once per process for its SchemaSettings and allowlist,
    its document cache empty."""
    chosen = SchemaSettings.of(settings)
    key = chosen, _allowlist_files(chosen.operations_dir)
    schema = _SCHEMAS.get(key)
    if schema is None:
        schema = _SCHEMAS[key] = build_schema(settings)
    schema.documents.clear()
    return schema
