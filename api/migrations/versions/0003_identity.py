"""identity: sandbox JPKI CA, card login, smartphone credentials, device grant, proxies

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def _person_fk(table: str, column: str = "person_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["persons.id"], name=op.f(f"fk_{table}_{column}_persons"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_challenges")),
    )
    op.create_index(op.f("ix_login_challenges_expires_at"), "login_challenges", ["expires_at"])
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", UTC, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    op.create_table(
        "cards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        _person_fk("cards"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
    )
    op.create_index(op.f("ix_cards_person_id"), "cards", ["person_id"])
    op.create_table(
        "device_authorizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("device_code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_code", sa.String(length=9), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("status", sa.Enum("pending", "approved", "denied", "consumed", name="device_grant_status",
                                    native_enum=False, create_constraint=True, length=10), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("last_polled_at", UTC, nullable=True),
        sa.Column("decided_at", UTC, nullable=True),
        _person_fk("device_authorizations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_authorizations")),
        sa.UniqueConstraint("device_code_hash", name=op.f("uq_device_authorizations_device_code_hash")),
        sa.UniqueConstraint("user_code", name=op.f("uq_device_authorizations_user_code")),
    )
    op.create_table(
        "proxy_grants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("principal_person_id", sa.Uuid(), nullable=False),
        sa.Column("proxy_person_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.CheckConstraint("principal_person_id <> proxy_person_id", name=op.f("ck_proxy_grants_not_self")),
        _person_fk("proxy_grants", "principal_person_id"),
        _person_fk("proxy_grants", "proxy_person_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proxy_grants")),
    )
    op.create_index(op.f("ix_proxy_grants_principal_person_id"), "proxy_grants", ["principal_person_id"])
    op.create_index("ix_proxy_grants_proxy_principal", "proxy_grants", ["proxy_person_id", "principal_person_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        _person_fk("refresh_tokens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"])
    op.create_index(op.f("ix_refresh_tokens_person_id"), "refresh_tokens", ["person_id"])
    op.create_table(
        "phone_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_phone_credentials_card_id_cards"),
                                ondelete="CASCADE"),
        _person_fk("phone_credentials"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_credentials")),
    )
    op.create_index(op.f("ix_phone_credentials_card_id"), "phone_credentials", ["card_id"])
    op.create_index("uq_phone_credentials_active_person", "phone_credentials", ["person_id"], unique=True,
                    sqlite_where=sa.text("revoked_at IS NULL"), postgresql_where=sa.text("revoked_at IS NULL"))
    op.create_table(
        "issued_certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("issuer", sa.String(length=40), nullable=False),
        sa.Column("serial", sa.String(length=50), nullable=False),
        sa.Column("profile", sa.Enum("card-auth", "card-sign", "phone-auth", "phone-sign", name="certificate_profile",
                                     native_enum=False, create_constraint=True, length=20), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("card_id", sa.Uuid(), nullable=False),
        sa.Column("phone_credential_id", sa.Uuid(), nullable=True),
        sa.Column("not_after", UTC, nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("revocation_reason", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["cards.id"], name=op.f("fk_issued_certificates_card_id_cards"),
                                ondelete="CASCADE"),
        _person_fk("issued_certificates"),
        sa.ForeignKeyConstraint(["phone_credential_id"], ["phone_credentials.id"],
                                name=op.f("fk_issued_certificates_phone_credential_id_phone_credentials"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_certificates")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_issued_certificates_fingerprint")),
    )
    op.create_index(op.f("ix_issued_certificates_card_id"), "issued_certificates", ["card_id"])
    op.create_index(op.f("ix_issued_certificates_person_id"), "issued_certificates", ["person_id"])
    op.create_index(op.f("ix_issued_certificates_phone_credential_id"), "issued_certificates",
                    ["phone_credential_id"])
    op.create_index("uq_issued_certificates_issuer_serial", "issued_certificates", ["issuer", "serial"], unique=True)
    with op.batch_alter_table("session_tokens") as batch_op:
        batch_op.add_column(sa.Column("family_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_session_tokens_family_id"), ["family_id"])


def downgrade() -> None:
    with op.batch_alter_table("session_tokens") as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_tokens_family_id"))
        batch_op.drop_column("family_id")
    for table in ("issued_certificates", "phone_credentials", "refresh_tokens", "proxy_grants",
                  "device_authorizations", "cards", "rate_limit_counters", "login_challenges"):
        op.drop_table(table)
