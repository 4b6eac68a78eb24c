"""payments: orders, payments, idempotency keys, ledger, callbacks

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_idempotency_keys",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_payment_idempotency_keys")),
    )
    with op.batch_alter_table("payment_idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_idempotency_keys_created_at"), ["created_at"], unique=False)

    op.create_table(
        "ledger_journals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_ledger_journals_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_journals")),
        sa.UniqueConstraint("event_key", name=op.f("uq_ledger_journals_event_key")),
    )
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_journals_agency_booked", ["agency_id", "booked_on"], unique=False)

    op.create_table(
        "payment_callback_endpoints",
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_payment_callback_endpoints_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_payment_callback_endpoints")),
    )
    op.create_table(
        "payment_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("payable_until", sa.Date(), nullable=False),
        sa.Column("agency_reference", sa.String(length=64), nullable=False),
        sa.Column("payee_number", sa.String(length=5), nullable=False),
        sa.Column("payment_number", sa.String(length=20), nullable=False),
        sa.Column("confirmation_number", sa.String(length=6), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "paid",
                "cancelled",
                "expired",
                name="orderstate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("notice_id", sa.Uuid(), nullable=True),
        sa.Column("paid_payment_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0 AND amount <= 100000000", name=op.f("ck_payment_orders_amount_range")),
        sa.CheckConstraint("payable_until >= due_date", name=op.f("ck_payment_orders_payable_after_due")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_payment_orders_agency_id_agencies")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_payment_orders_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_orders")),
        sa.UniqueConstraint("agency_id", "agency_reference", name=op.f("uq_payment_orders_agency_id_agency_reference")),
        sa.UniqueConstraint("payment_number", name=op.f("uq_payment_orders_payment_number")),
    )
    with op.batch_alter_table("payment_orders", schema=None) as batch_op:
        batch_op.create_index("ix_payment_orders_agency_created", ["agency_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_orders_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index("ix_payment_orders_person_state", ["person_id", "state"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("journal_id", sa.Uuid(), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["ledger_journals.id"], name=op.f("fk_ledger_entries_journal_id_ledger_journals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_journal_id"), ["journal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_reference"), ["reference"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("actor_person_id", sa.Uuid(), nullable=True),
        sa.Column("acting_basis", sa.String(length=10), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "card",
                "net_banking",
                "payeasy",
                name="paymentmethod",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "created",
                "started",
                "submitted",
                "success",
                "declined",
                "timedout",
                "cancelled",
                "error",
                name="paymentstate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("failure_code", sa.String(length=5), nullable=True),
        sa.Column("failure_message", sa.String(length=200), nullable=True),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("gateway_reference", sa.String(length=64), nullable=True),
        sa.Column("next_url", sa.String(length=500), nullable=True),
        sa.Column("active_order_id", sa.Uuid(), nullable=True),
        sa.Column("paid_order_id", sa.Uuid(), nullable=True),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("card_brand", sa.String(length=20), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0 AND amount <= 100000000", name=op.f("ck_payments_amount_range")),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name=op.f("ck_payments_refund_within_amount")
        ),
        sa.ForeignKeyConstraint(
            ["active_order_id"], ["payment_orders.id"], name=op.f("fk_payments_active_order_id_payment_orders")
        ),
        sa.ForeignKeyConstraint(["actor_person_id"], ["persons.id"], name=op.f("fk_payments_actor_person_id_persons")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_payments_agency_id_agencies")),
        sa.ForeignKeyConstraint(["order_id"], ["payment_orders.id"], name=op.f("fk_payments_order_id_payment_orders")),
        sa.ForeignKeyConstraint(
            ["paid_order_id"], ["payment_orders.id"], name=op.f("fk_payments_paid_order_id_payment_orders")
        ),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_payments_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("active_order_id", name=op.f("uq_payments_active_order_id")),
        sa.UniqueConstraint("gateway_reference", name=op.f("uq_payments_gateway_reference")),
        sa.UniqueConstraint("paid_order_id", name=op.f("uq_payments_paid_order_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_agency_created", ["agency_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_payments_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_payments_person_created", ["person_id", "created_at"], unique=False)
        batch_op.create_index("ix_payments_state_created", ["state", "created_at"], unique=False)

    op.create_table(
        "payment_bank_receipts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("bank_reference", sa.String(length=64), nullable=False),
        sa.Column("payee_number", sa.String(length=5), nullable=False),
        sa.Column("payment_number", sa.String(length=20), nullable=False),
        sa.Column("confirmation_number", sa.String(length=6), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "applied",
                "duplicate",
                "unmatched",
                name="bankreceiptoutcome",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_bank_receipts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_bank_receipts_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_bank_receipts")),
        sa.UniqueConstraint("bank_reference", name=op.f("uq_payment_bank_receipts_bank_reference")),
    )
    op.create_table(
        "payment_callbacks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=50), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "successful",
                "failed",
                "will_not_send",
                name="callbackstate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_payment_callbacks_agency_id_agencies")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_payment_callbacks_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_callbacks")),
    )
    with op.batch_alter_table("payment_callbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_callbacks_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index("ix_payment_callbacks_due", ["state", "next_attempt_at"], unique=False)

    op.create_table(
        "payment_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "created",
                "started",
                "submitted",
                "success",
                "declined",
                "timedout",
                "cancelled",
                "error",
                name="paymentstate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_events_payment_id_payments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("payment_id", "state", name=op.f("uq_payment_events_payment_id_state")),
    )
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "submitted",
                "success",
                "error",
                name="refundstate",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("gateway_reference", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_payment_refunds_agency_id_agencies")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_payment_refunds_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint("gateway_reference", name=op.f("uq_payment_refunds_gateway_reference")),
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_refunds_payment_id"), ["payment_id"], unique=False)

    op.create_table(
        "payment_callback_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("callback_id", sa.Uuid(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["payment_callbacks.id"],
            name=op.f("fk_payment_callback_attempts_callback_id_payment_callbacks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_callback_attempts")),
    )
    with op.batch_alter_table("payment_callback_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_callback_attempts_callback_id"), ["callback_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_callback_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_callback_attempts_callback_id"))

    op.drop_table("payment_callback_attempts")
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_refunds_payment_id"))

    op.drop_table("payment_refunds")
    op.drop_table("payment_events")
    with op.batch_alter_table("payment_callbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_callbacks_due")
        batch_op.drop_index(batch_op.f("ix_payment_callbacks_agency_id"))

    op.drop_table("payment_callbacks")
    op.drop_table("payment_bank_receipts")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_state_created")
        batch_op.drop_index("ix_payments_person_created")
        batch_op.drop_index(batch_op.f("ix_payments_order_id"))
        batch_op.drop_index("ix_payments_agency_created")

    op.drop_table("payments")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_reference"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_journal_id"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("payment_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_orders_person_state")
        batch_op.drop_index(batch_op.f("ix_payment_orders_notice_id"))
        batch_op.drop_index("ix_payment_orders_agency_created")

    op.drop_table("payment_orders")
    op.drop_table("payment_callback_endpoints")
    with op.batch_alter_table("ledger_journals", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_journals_agency_booked")

    op.drop_table("ledger_journals")
    with op.batch_alter_table("payment_idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_idempotency_keys_created_at"))

    op.drop_table("payment_idempotency_keys")
