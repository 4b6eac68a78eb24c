"""notices and Web Push: notices, reminders, subscriptions, delivery outbox, private delivery

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # reserved for the notices issue, so the chain stays linear while domains are built in parallel


def downgrade() -> None:
    pass
