"""identity: PostgreSQL tells every worker when an authenticated session's rows change

The token lookup's row (a session token, its person, the person's municipality) may be kept by each
process (api.identity.session_cache). A statement trigger on each of the three tables sends
``pg_notify('session_rows_changed', '')`` when rows are updated, deleted or truncated; PostgreSQL delivers
it at commit, and each process's LISTEN connection then drops what it kept. Inserts need no notice: a
token the lookup did not find is never kept. SQLite needs nothing (``PRAGMA data_version`` tells).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration states the schema as it was at its revision.
_CHANNEL = "session_rows_changed"
_TABLES = ("session_tokens", "persons", "municipalities")
_FUNCTION = "notify_session_rows_changed"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
               f"BEGIN PERFORM pg_notify('{_CHANNEL}', ''); RETURN NULL; END $$")
    for table in _TABLES:
        op.execute(f"CREATE TRIGGER {table}_notify_session_rows AFTER UPDATE OR DELETE OR TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"DROP TRIGGER {table}_notify_session_rows ON {table}")
    op.execute(f"DROP FUNCTION {_FUNCTION}()")
