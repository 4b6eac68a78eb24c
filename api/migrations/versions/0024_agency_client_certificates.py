"""agency client certificates: the TLS client certificates agencies present on the agency API (mutual TLS)

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agency_client_certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"],
                                name=op.f("fk_agency_client_certificates_agency_id_agencies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_client_certificates")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_agency_client_certificates_fingerprint")),
    )
    with op.batch_alter_table("agency_client_certificates") as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_client_certificates_agency_id"), ["agency_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agency_client_certificates") as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_client_certificates_agency_id"))
    op.drop_table("agency_client_certificates")
