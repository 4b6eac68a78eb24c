"""payments: orders, payments, idempotency keys, ledger, callbacks

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # reserved for the payments issue, so the chain stays linear while domains are built in parallel


def downgrade() -> None:
    pass
