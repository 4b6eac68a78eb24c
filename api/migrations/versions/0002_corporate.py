"""corporate numbers: corporations, their history, name search, application ids

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # reserved for the corporate issue, so the chain stays linear while domains are built in parallel


def downgrade() -> None:
    pass
