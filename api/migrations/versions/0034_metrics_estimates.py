"""/metrics estimates: PostgreSQL's statistics of push outcomes (channel, state, last status code)

Revision ID: 0034
Revises: 0028
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The most common (channel, state, code) triples and their frequencies, kept by every ANALYZE: the
        # mynaportal_push_deliveries gauge reads them instead of counting the table (api.metrics). Built by the
        # next ANALYZE (autovacuum's); until then /metrics counts.
        op.execute("CREATE STATISTICS IF NOT EXISTS notice_deliveries_outcomes (mcv) "
                   "ON channel, state, last_status_code FROM notice_deliveries")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS notice_deliveries_outcomes")
