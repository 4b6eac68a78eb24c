"""information exchange: providers' copies (副本), live endpoints, exchange records

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_copies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_agency_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("item_kind", sa.String(length=64), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_exchange_copies_person_id_persons"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_agency_id"], ["agencies.id"],
                                name=op.f("fk_exchange_copies_provider_agency_id_agencies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_copies")),
        sa.UniqueConstraint("provider_agency_id", "person_id", "item_kind", "item_key",
                            name=op.f("uq_exchange_copies_provider_agency_id_person_id_item_kind_item_key")),
    )
    op.create_index(op.f("ix_exchange_copies_person_id"), "exchange_copies", ["person_id"], unique=False)
    op.create_table(
        "exchange_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_agency_id", sa.Uuid(), nullable=False),
        sa.Column("item_kind", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["provider_agency_id"], ["agencies.id"],
                                name=op.f("fk_exchange_endpoints_provider_agency_id_agencies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_endpoints")),
        sa.UniqueConstraint("provider_agency_id", "item_kind",
                            name=op.f("uq_exchange_endpoints_provider_agency_id_item_kind")),
    )
    op.create_table(
        "exchange_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("query_id", sa.Uuid(), nullable=False),
        sa.Column("requester_agency_id", sa.Uuid(), nullable=False),
        sa.Column("provider_agency_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("duty", sa.String(length=64), nullable=False),
        sa.Column("item_names", sa.JSON(), nullable=False),
        sa.Column("legal_row_id", sa.String(length=64), nullable=True),
        sa.Column("legal_table_version", sa.String(length=32), nullable=False),
        sa.Column("requested_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("provided_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("processing_type", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("refusal_code", sa.String(length=64), nullable=True),
        sa.Column("hidden_until", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_exchange_records_person_id_persons"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_agency_id"], ["agencies.id"],
                                name=op.f("fk_exchange_records_provider_agency_id_agencies"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_agency_id"], ["agencies.id"],
                                name=op.f("fk_exchange_records_requester_agency_id_agencies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_records")),
        sa.UniqueConstraint("query_id", name=op.f("uq_exchange_records_query_id")),
    )
    op.create_index("ix_exchange_records_person_requested", "exchange_records", ["person_id", "requested_at"])
    op.create_index("ix_exchange_records_requester_requested", "exchange_records",
                    ["requester_agency_id", "requested_at"])
    op.create_index(op.f("ix_exchange_records_provider_agency_id"), "exchange_records", ["provider_agency_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_exchange_records_provider_agency_id"), table_name="exchange_records")
    op.drop_index("ix_exchange_records_requester_requested", table_name="exchange_records")
    op.drop_index("ix_exchange_records_person_requested", table_name="exchange_records")
    op.drop_table("exchange_records")
    op.drop_table("exchange_endpoints")
    op.drop_index(op.f("ix_exchange_copies_person_id"), table_name="exchange_copies")
    op.drop_table("exchange_copies")
