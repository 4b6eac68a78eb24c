"""certificates: the municipal registers (住民基本台帳, 印鑑登録, 戸籍, tax), issued certificates, kiosks

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kiosks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("terminal_id", sa.String(length=40), nullable=False),
        sa.Column("store_name", sa.String(length=100), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosks")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_kiosks_key_hash")),
        sa.UniqueConstraint("terminal_id", name=op.f("uq_kiosks_terminal_id")),
    )
    op.create_table(
        "family_registers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("honseki", sa.String(length=300), nullable=False),
        sa.Column("hittosha", sa.String(length=100), nullable=False),
        sa.Column("formed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_family_registers_municipality_code_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_registers")),
    )
    with op.batch_alter_table("family_registers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_registers_municipality_code"), ["municipality_code"], unique=False)

    op.create_table(
        "address_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("moved_in_on", sa.Date(), nullable=False),
        sa.Column("moved_out_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_address_history_municipality_code_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_address_history_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_history")),
        sa.UniqueConstraint("person_id", "moved_in_on", name=op.f("uq_address_history_person_id_moved_in_on")),
    )
    op.create_table(
        "certificate_offices",
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("mayor_name", sa.String(length=100), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("fees", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_certificate_offices_agency_id_agencies")),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_certificate_offices_municipality_code_municipalities"),
        ),
        sa.PrimaryKeyConstraint("municipality_code", name=op.f("pk_certificate_offices")),
    )
    op.create_table(
        "family_register_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("register_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("father", sa.String(length=100), nullable=True),
        sa.Column("mother", sa.String(length=100), nullable=True),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_family_register_members_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["register_id"],
            ["family_registers.id"],
            name=op.f("fk_family_register_members_register_id_family_registers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_register_members")),
        sa.UniqueConstraint("register_id", "position", name=op.f("uq_family_register_members_register_id_position")),
    )
    with op.batch_alter_table("family_register_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_register_members_person_id"), ["person_id"], unique=False)

    op.create_table(
        "kiosk_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kiosk_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("login_session_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["kiosk_id"], ["kiosks.id"], name=op.f("fk_kiosk_sessions_kiosk_id_kiosks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_kiosk_sessions_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_sessions")),
    )
    with op.batch_alter_table("kiosk_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_kiosk_sessions_kiosk_open", ["kiosk_id", "ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_kiosk_sessions_person_id"), ["person_id"], unique=False)

    op.create_table(
        "resident_records",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("is_head", sa.Boolean(), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("order_in_household", sa.SmallInteger(), nullable=False),
        sa.Column("became_resident_on", sa.Date(), nullable=False),
        sa.Column("address_set_on", sa.Date(), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=False),
        sa.Column("previous_address", sa.String(length=300), nullable=True),
        sa.Column("honseki", sa.String(length=300), nullable=True),
        sa.Column("hittosha", sa.String(length=100), nullable=True),
        sa.Column("honseki_municipality_code", sa.String(length=6), nullable=True),
        sa.ForeignKeyConstraint(
            ["honseki_municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_resident_records_honseki_municipality_code_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_resident_records_municipality_code_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_resident_records_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_resident_records")),
    )
    with op.batch_alter_table("resident_records", schema=None) as batch_op:
        batch_op.create_index("ix_resident_records_household", ["municipality_code", "household_id"], unique=False)

    op.create_table(
        "seal_registrations",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("registration_number", sa.String(length=20), nullable=False),
        sa.Column("seal_png", sa.LargeBinary(), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_seal_registrations_municipality_code_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_seal_registrations_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_seal_registrations")),
        sa.UniqueConstraint(
            "municipality_code",
            "registration_number",
            name=op.f("uq_seal_registrations_municipality_code_registration_number"),
        ),
    )
    op.create_table(
        "tax_assessments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("tax_year", sa.SmallInteger(), nullable=False),
        sa.Column("total_income", sa.BigInteger(), nullable=False),
        sa.Column("taxable_income", sa.BigInteger(), nullable=False),
        sa.Column("municipal_tax", sa.Integer(), nullable=False),
        sa.Column("prefectural_tax", sa.Integer(), nullable=False),
        sa.Column("dependants", sa.SmallInteger(), nullable=False),
        sa.Column("assessed_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_tax_assessments_municipality_code_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_tax_assessments_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_assessments")),
        sa.UniqueConstraint(
            "municipality_code",
            "person_id",
            "tax_year",
            name=op.f("uq_tax_assessments_municipality_code_person_id_tax_year"),
        ),
    )
    with op.batch_alter_table("tax_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tax_assessments_person_id"), ["person_id"], unique=False)

    op.create_table(
        "certificate_issuances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "resident-record",
                "resident-record-items",
                "seal",
                "family-register-all",
                "family-register-person",
                "tax",
                name="certificatekind",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("municipality_code", sa.String(length=6), nullable=True),
        sa.Column("subject_person_id", sa.Uuid(), nullable=False),
        sa.Column("actor_person_id", sa.Uuid(), nullable=False),
        sa.Column("acting_basis", sa.String(length=20), nullable=False),
        sa.Column(
            "channel",
            sa.Enum("app", "delivery", "kiosk", name="channel", native_enum=False, create_constraint=True, length=10),
            nullable=False,
        ),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("includes_individual_number", sa.Boolean(), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "awaiting-payment",
                "issued",
                "handed",
                "printed",
                "void",
                name="issuancestate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("fee", sa.Integer(), nullable=False),
        sa.Column("payment_order_id", sa.Uuid(), nullable=True),
        sa.Column("kiosk_session_id", sa.Uuid(), nullable=True),
        sa.Column("kiosk_receipt", sa.String(length=64), nullable=True),
        sa.Column("delivery_link_id", sa.Uuid(), nullable=True),
        sa.Column("notice_id", sa.Uuid(), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("document_sha256", sa.LargeBinary(length=32), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("requested_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handed_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("printed_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("void_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "(channel = 'kiosk') = (kiosk_session_id IS NOT NULL)",
            name=op.f("ck_certificate_issuances_kiosk_has_session"),
        ),
        sa.CheckConstraint(
            "NOT (includes_individual_number AND channel <> 'app')",
            name=op.f("ck_certificate_issuances_number_app_only"),
        ),
        sa.CheckConstraint(
            "channel <> 'kiosk' OR actor_person_id = subject_person_id",
            name=op.f("ck_certificate_issuances_kiosk_self_only"),
        ),
        sa.CheckConstraint(
            "NOT (includes_individual_number AND document IS NOT NULL)",
            name=op.f("ck_certificate_issuances_number_never_stored"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_person_id"],
            ["persons.id"],
            name=op.f("fk_certificate_issuances_actor_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["kiosk_session_id"],
            ["kiosk_sessions.id"],
            name=op.f("fk_certificate_issuances_kiosk_session_id_kiosk_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name=op.f("fk_certificate_issuances_municipality_code_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_order_id"],
            ["payment_orders.id"],
            name=op.f("fk_certificate_issuances_payment_order_id_payment_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_person_id"],
            ["persons.id"],
            name=op.f("fk_certificate_issuances_subject_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_issuances")),
        sa.UniqueConstraint(
            "actor_person_id",
            "channel",
            "request_key",
            name=op.f("uq_certificate_issuances_actor_person_id_channel_request_key"),
        ),
        sa.UniqueConstraint(
            "municipality_code", "serial", name=op.f("uq_certificate_issuances_municipality_code_serial")
        ),
        sa.UniqueConstraint("public_id", name=op.f("uq_certificate_issuances_public_id")),
    )
    with op.batch_alter_table("certificate_issuances", schema=None) as batch_op:
        batch_op.create_index("ix_certificate_issuances_kiosk_session", ["kiosk_session_id"], unique=False)
        batch_op.create_index("ix_certificate_issuances_subject", ["subject_person_id", "requested_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificate_issuances", schema=None) as batch_op:
        batch_op.drop_index("ix_certificate_issuances_subject")
        batch_op.drop_index("ix_certificate_issuances_kiosk_session")

    op.drop_table("certificate_issuances")
    with op.batch_alter_table("tax_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tax_assessments_person_id"))

    op.drop_table("tax_assessments")
    op.drop_table("seal_registrations")
    with op.batch_alter_table("resident_records", schema=None) as batch_op:
        batch_op.drop_index("ix_resident_records_household")

    op.drop_table("resident_records")
    with op.batch_alter_table("kiosk_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kiosk_sessions_person_id"))
        batch_op.drop_index("ix_kiosk_sessions_kiosk_open")

    op.drop_table("kiosk_sessions")
    with op.batch_alter_table("family_register_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_register_members_person_id"))

    op.drop_table("family_register_members")
    op.drop_table("certificate_offices")
    op.drop_table("address_history")
    with op.batch_alter_table("family_registers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_registers_municipality_code"))

    op.drop_table("family_registers")
    op.drop_table("kiosks")
