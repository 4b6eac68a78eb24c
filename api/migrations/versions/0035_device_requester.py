"""device sign-ins remember who asked (address and browser), shown to the person before they approve

Revision ID: 0035
Revises: 0034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Expand only: nullable columns, which rows written by the previous release leave empty.
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requester_address", sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column("requester_agent", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_authorizations", schema=None) as batch_op:
        batch_op.drop_column("requester_agent")
        batch_op.drop_column("requester_address")
