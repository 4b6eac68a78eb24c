"""core: people, agencies, codes, agency keys, sessions, access records

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "municipalities",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("prefecture", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_municipalities")),
    )
    op.create_table(
        "agencies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "ministry",
                "municipality",
                "insurer",
                "pension",
                "tax",
                name="agencykind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("municipality_code", sa.String(length=6), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_code"], ["municipalities.code"], name=op.f("fk_agencies_municipality_code_municipalities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("slug", name=op.f("uq_agencies_slug")),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_kana", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column(
            "sex",
            sa.Enum("male", "female", name="sex", native_enum=False, create_constraint=True, length=10),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("individual_number_ciphertext", sa.LargeBinary(length=64), nullable=False),
        sa.Column("individual_number_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_code"], ["municipalities.code"], name=op.f("fk_persons_municipality_code_municipalities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("email", name=op.f("uq_persons_email")),
        sa.UniqueConstraint("individual_number_hash", name=op.f("uq_persons_individual_number_hash")),
    )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_persons_municipality_code"), ["municipality_code"], unique=False)

    op.create_table(
        "access_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor_person_id", sa.Uuid(), nullable=False),
        sa.Column("subject_person_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=False),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_person_id"],
            ["persons.id"],
            name=op.f("fk_access_records_actor_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_person_id"],
            ["persons.id"],
            name=op.f("fk_access_records_subject_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_records")),
    )
    with op.batch_alter_table("access_records", schema=None) as batch_op:
        batch_op.create_index("ix_access_records_subject_time", ["subject_person_id", "accessed_at"], unique=False)

    op.create_table(
        "agency_person_codes",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_agency_person_codes_agency_id_agencies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_agency_person_codes_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agency_id", "person_id", name=op.f("pk_agency_person_codes")),
        sa.UniqueConstraint("agency_id", "code", name=op.f("uq_agency_person_codes_agency_id_code")),
    )
    with op.batch_alter_table("agency_person_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_person_codes_person_id"), ["person_id"], unique=False)

    op.create_table(
        "agency_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_agency_credentials_agency_id_agencies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_credentials")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_agency_credentials_key_hash")),
    )
    with op.batch_alter_table("agency_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agency_credentials_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "parent_child",
        sa.Column("parent_id", sa.Uuid(), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("parent_id <> child_id", name=op.f("ck_parent_child_not_self")),
        sa.ForeignKeyConstraint(
            ["child_id"], ["persons.id"], name=op.f("fk_parent_child_child_id_persons"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["persons.id"], name=op.f("fk_parent_child_parent_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("parent_id", "child_id", name=op.f("pk_parent_child")),
    )
    with op.batch_alter_table("parent_child", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parent_child_child_id"), ["child_id"], unique=False)

    op.create_table(
        "session_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_session_tokens_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_session_tokens_token_hash")),
    )
    with op.batch_alter_table("session_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_tokens_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agency_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_credentials_agency_id"))

    op.drop_table("agency_credentials")
    with op.batch_alter_table("session_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_tokens_person_id"))

    op.drop_table("session_tokens")
    with op.batch_alter_table("parent_child", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parent_child_child_id"))

    op.drop_table("parent_child")
    with op.batch_alter_table("agency_person_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_person_codes_person_id"))

    op.drop_table("agency_person_codes")
    with op.batch_alter_table("access_records", schema=None) as batch_op:
        batch_op.drop_index("ix_access_records_subject_time")

    op.drop_table("access_records")
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_persons_municipality_code"))

    op.drop_table("persons")
    op.drop_table("agencies")
    op.drop_table("municipalities")
