"""exchange records: the id of each record's leaf in the transparency log, so its proof can be found

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On PostgreSQL exchange_records is partitioned by month: a column added to the parent reaches every partition.
    with op.batch_alter_table("exchange_records") as batch:
        batch.add_column(sa.Column("log_leaf_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchange_records") as batch:
        batch.drop_column("log_leaf_id")
