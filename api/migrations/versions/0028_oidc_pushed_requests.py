"""the OpenID Provider: pushed authorization requests (RFC 9126) and signing transactions (the sign scope)

Revision ID: 0028
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0028"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_pushed_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_uri_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oidc_clients.id"],
            name=op.f("fk_oidc_pushed_requests_client_pk_oidc_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_pushed_requests")),
        sa.UniqueConstraint("request_uri_hash", name=op.f("uq_oidc_pushed_requests_request_uri_hash")),
    )
    with op.batch_alter_table("oidc_pushed_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_pushed_requests_client_pk"), ["client_pk"], unique=False)

    op.create_table(
        "oidc_sign_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("short_code", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "signed", name="signstatus", native_enum=False, create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("signature", sa.LargeBinary(length=1024), nullable=True),
        sa.Column("certificate", sa.LargeBinary(length=8192), nullable=True),
        sa.Column("certificate_chain", sa.JSON(), nullable=True),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signed_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oidc_clients.id"],
            name=op.f("fk_oidc_sign_transactions_client_pk_oidc_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_oidc_sign_transactions_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_sign_transactions")),
        sa.UniqueConstraint("short_code", name=op.f("uq_oidc_sign_transactions_short_code")),
    )
    with op.batch_alter_table("oidc_sign_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_sign_transactions_client_pk"), ["client_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_sign_transactions_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_sign_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_sign_transactions_person_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_sign_transactions_client_pk"))

    op.drop_table("oidc_sign_transactions")
    with op.batch_alter_table("oidc_pushed_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_pushed_requests_client_pk"))

    op.drop_table("oidc_pushed_requests")
