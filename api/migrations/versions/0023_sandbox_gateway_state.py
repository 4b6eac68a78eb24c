"""sandbox gateway: its sessions, refunds and owed notifications in the database, not in one process's memory;
notice expansions: a segment's recipients written chunk by chunk, resumable

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.platform.db import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("created", "submitted", "success", "declined", "timedout", "cancelled", "error")


def upgrade() -> None:
    op.create_table(
        "sandbox_gateway_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant", sa.String(64), nullable=False),
        sa.Column("merchant_reference", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("return_url", sa.String(500), nullable=False),
        sa.Column("notification_url", sa.String(500), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(10), nullable=True),
        sa.Column("card_brand", sa.String(20), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("captured_at", UTCDateTime(), nullable=True),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunds_within_amount"),
        sa.CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="state_known"),
        sa.CheckConstraint("method IN ('card', 'net_banking')", name="method_known"),
        sa.UniqueConstraint("merchant_reference"),
    )
    op.create_index("ix_sandbox_gateway_sessions_captured", "sandbox_gateway_sessions", ["merchant", "captured_at"])
    op.create_table(
        "sandbox_gateway_refunds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sandbox_gateway_sessions.id"), nullable=False),
        sa.Column("refund_reference", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.UniqueConstraint("refund_reference"),
    )
    op.create_index("ix_sandbox_gateway_refunds_session_id", "sandbox_gateway_refunds", ["session_id"])
    op.create_table(
        "sandbox_gateway_notifications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sandbox_gateway_notifications_due", "sandbox_gateway_notifications", ["next_attempt_at"])
    op.create_table(
        "notice_expansions",
        sa.Column("notice_id", sa.Uuid(), sa.ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("segment_day", sa.Date(), nullable=False),
        sa.Column("after_person_id", sa.Uuid(), nullable=True),
        sa.Column("expanded", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_notice_expansions_pending", "notice_expansions", ["finished_at"])


def downgrade() -> None:
    op.drop_table("notice_expansions")
    op.drop_table("sandbox_gateway_notifications")
    op.drop_table("sandbox_gateway_refunds")
    op.drop_table("sandbox_gateway_sessions")
