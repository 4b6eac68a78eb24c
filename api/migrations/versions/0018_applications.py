"""online applications: procedure offerings, applications and their attachments (chunks) and history,
municipal staff, the inbox's idempotency keys, the 公金受取口座 (issue 18)

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "procedure_offerings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("signature_required", sa.Boolean(), nullable=False),
        sa.Column("fee_yen", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("published_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("fee_yen >= 0", name=op.f("ck_procedure_offerings_fee_not_negative")),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_procedure_offerings_municipality_code_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_offerings")),
        sa.UniqueConstraint(
            "municipality_code", "procedure_code", name=op.f("uq_procedure_offerings_municipality_code_procedure_code")
        ),
    )
    with op.batch_alter_table("procedure_offerings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procedure_offerings_procedure_code"), ["procedure_code"], unique=False)

    op.create_table(
        "application_idempotency",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_application_idempotency_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", "key", name=op.f("pk_application_idempotency")),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reception_number", sa.String(length=24), nullable=True),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("applicant_person_id", sa.Uuid(), nullable=False),
        sa.Column("subject_person_id", sa.Uuid(), nullable=False),
        sa.Column("basis", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("prefill", sa.JSON(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("signed_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("signed_document", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.LargeBinary(length=1024), nullable=True),
        sa.Column("certificate", sa.LargeBinary(length=8192), nullable=True),
        sa.Column("certificate_chain", sa.JSON(), nullable=True),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'received', 'reviewing', 'correction_requested', 'completed', 'rejected')",
            name=op.f("ck_applications_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["applicant_person_id"],
            ["persons.id"],
            name=op.f("fk_applications_applicant_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_applications_municipality_code_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_person_id"],
            ["persons.id"],
            name=op.f("fk_applications_subject_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("reception_number", name=op.f("uq_applications_reception_number")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index("ix_applications_applicant", ["applicant_person_id", "updated_at"], unique=False)
        batch_op.create_index(
            "ix_applications_inbox", ["municipality_code", "status", "submitted_at", "id"], unique=False
        )
        batch_op.create_index("ix_applications_inbox_all", ["municipality_code", "submitted_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_subject_person_id"), ["subject_person_id"], unique=False)

    op.create_table(
        "municipal_staff",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('reader', 'decider')", name=op.f("ck_municipal_staff_role_known")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_municipal_staff_agency_id_agencies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_municipal_staff")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_municipal_staff_token_hash")),
    )
    with op.batch_alter_table("municipal_staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_municipal_staff_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "public_benefit_accounts",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("bank_code", sa.String(length=4), nullable=False),
        sa.Column("branch_code", sa.String(length=3), nullable=False),
        sa.Column("account_kind", sa.String(length=10), nullable=False),
        sa.Column("account_number", sa.String(length=7), nullable=False),
        sa.Column("holder_kana", sa.String(length=100), nullable=False),
        sa.Column("registered_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "account_kind IN ('ordinary', 'current', 'savings')", name=op.f("ck_public_benefit_accounts_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_public_benefit_accounts_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_public_benefit_accounts")),
    )
    op.create_table(
        "application_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("requirement", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_attachments_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_attachments")),
        sa.UniqueConstraint(
            "application_id", "requirement", name=op.f("uq_application_attachments_application_id_requirement")
        ),
    )
    op.create_table(
        "application_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_events_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_events")),
    )
    with op.batch_alter_table("application_events", schema=None) as batch_op:
        batch_op.create_index("ix_application_events_application", ["application_id", "at"], unique=False)

    op.create_table(
        "application_attachment_chunks",
        sa.Column("attachment_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["application_attachments.id"],
            name=op.f("fk_application_attachment_chunks_attachment_id_application_attachments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", "seq", name=op.f("pk_application_attachment_chunks")),
    )


def downgrade() -> None:
    op.drop_table("application_attachment_chunks")
    with op.batch_alter_table("application_events", schema=None) as batch_op:
        batch_op.drop_index("ix_application_events_application")

    op.drop_table("application_events")
    op.drop_table("application_attachments")
    op.drop_table("public_benefit_accounts")
    with op.batch_alter_table("municipal_staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_municipal_staff_agency_id"))

    op.drop_table("municipal_staff")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_subject_person_id"))
        batch_op.drop_index("ix_applications_inbox_all")
        batch_op.drop_index("ix_applications_inbox")
        batch_op.drop_index("ix_applications_applicant")

    op.drop_table("applications")
    op.drop_table("application_idempotency")
    with op.batch_alter_table("procedure_offerings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procedure_offerings_procedure_code"))

    op.drop_table("procedure_offerings")
