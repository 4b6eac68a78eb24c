"""PROVISIONAL stand-in for X1's 0014 (exchange_records only); replaced by X1's migration on merge.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("requester_agency_id", sa.Uuid(), nullable=False),
        sa.Column("provider_agency_id", sa.Uuid(), nullable=False),
        sa.Column("duty", sa.String(length=200), nullable=False),
        sa.Column("item_names", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.String(length=200), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("query_id", sa.String(length=100), nullable=True),
        sa.Column("processing_type", sa.String(length=40), nullable=True),
        sa.Column("hidden_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_exchange_records_person_id_persons"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_agency_id"], ["agencies.id"],
                                name=op.f("fk_exchange_records_provider_agency_id_agencies")),
        sa.ForeignKeyConstraint(["requester_agency_id"], ["agencies.id"],
                                name=op.f("fk_exchange_records_requester_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_records")),
    )


def downgrade() -> None:
    op.drop_table("exchange_records")
