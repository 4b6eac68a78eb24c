"""people: key generations of the individual number's ciphertext and lookup hash; notices: a delivery
service's previous webhook secret during a rotation

Every existing row was written under the one data key and the one lookup key there were: generation 1 of each
(MYNAPORTAL_DATA_KEY / MYNAPORTAL_LOOKUP_KEY, or the first of MYNAPORTAL_DATA_KEYS / _LOOKUP_KEYS numbered 1).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("number_key_generation", sa.SmallInteger(), server_default="1", nullable=False))
        batch.add_column(sa.Column("number_lookup_generation", sa.SmallInteger(), server_default="1",
                                   nullable=False))
    with op.batch_alter_table("delivery_services") as batch:
        batch.add_column(sa.Column("previous_secret_ciphertext", sa.LargeBinary(length=128), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_services") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret_ciphertext")
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("number_lookup_generation")
        batch.drop_column("number_key_generation")
