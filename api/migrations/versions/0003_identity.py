"""identity: sandbox JPKI CA, card login, smartphone credentials, device grant, proxies

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # reserved for the identity issue, so the chain stays linear while domains are built in parallel


def downgrade() -> None:
    pass
