"""identity: drop migration 0007's notices of changed session rows

Each worker's token cache (api.identity.session_cache) no longer listens for them: it keeps a token's
principal for at most a second, and this process's own revocations end it at once. The statement triggers
that sent ``session_rows_changed`` on every update of session tokens, people and municipalities go.
SQLite had none.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration states the schema as it was at its revision.
_CHANNEL = "session_rows_changed"
_TABLES = ("session_tokens", "persons", "municipalities")
_FUNCTION = "notify_session_rows_changed"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"DROP TRIGGER {table}_notify_session_rows ON {table}")
    op.execute(f"DROP FUNCTION {_FUNCTION}()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
               f"BEGIN PERFORM pg_notify('{_CHANNEL}', ''); RETURN NULL; END $$")
    for table in _TABLES:
        op.execute(f"CREATE TRIGGER {table}_notify_session_rows AFTER UPDATE OR DELETE OR TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()")
