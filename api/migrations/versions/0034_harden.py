"""/metrics estimates: PostgreSQL's statistics of push outcomes; the contract step of rate_limit_counters (dropped);
the staff inbox's server-side browser sessions

Revision ID: 0034
Revises: 0031
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0034"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The most common (channel, state, code) triples and their frequencies, kept by every ANALYZE: the
        # mynaportal_push_deliveries gauge reads them instead of counting the table (api.metrics). Built by the
        # next ANALYZE (autovacuum's); until then /metrics counts.
        op.execute("CREATE STATISTICS IF NOT EXISTS notice_deliveries_outcomes (mcv) "
                   "ON channel, state, last_status_code FROM notice_deliveries")
    # Login rate limits count in the `limits` library (Redis with several workers) since 0022; no release since
    # writes or reads this table (the expand/migrate/contract rule, README "Migrations without downtime").
    op.drop_index(op.f("ix_rate_limit_counters_window_start"), table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
    # The web staff inbox's sessions (api.applications.staff_sessions): the cookie holds only the id.
    op.create_table(
        "staff_web_sessions",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("credential_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_staff_web_sessions")),
    )
    op.create_index(op.f("ix_staff_web_sessions_credential_hash"), "staff_web_sessions", ["credential_hash"])
    op.create_index(op.f("ix_staff_web_sessions_last_seen_at"), "staff_web_sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_web_sessions_last_seen_at"), table_name="staff_web_sessions")
    op.drop_index(op.f("ix_staff_web_sessions_credential_hash"), table_name="staff_web_sessions")
    op.drop_table("staff_web_sessions")
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    op.create_index(op.f("ix_rate_limit_counters_window_start"), "rate_limit_counters", ["window_start"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS notice_deliveries_outcomes")
