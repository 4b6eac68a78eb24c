"""the OpenID Provider: clients, consents, login requests, authorization codes, tokens, used JWT ids

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_seen_jwts",
        sa.Column("issuer", sa.String(length=100), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name=op.f("pk_oidc_seen_jwts")),
    )
    with op.batch_alter_table("oidc_seen_jwts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_seen_jwts_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "oidc_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("agency_id", sa.Uuid(), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "suspended",
                name="clientstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("require_par", sa.Boolean(), nullable=False),
        sa.Column("require_dpop", sa.Boolean(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("consent_ttl_seconds", sa.Integer(), nullable=True),
        sa.Column("pairwise_salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_oidc_clients_agency_id_agencies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oidc_clients_client_id")),
    )
    op.create_table(
        "oidc_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("granted_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"], ["oidc_clients.id"], name=op.f("fk_oidc_consents_client_pk_oidc_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_oidc_consents_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_consents")),
    )
    with op.batch_alter_table("oidc_consents", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_consents_person_client", ["person_id", "client_pk"], unique=False)

    op.create_table(
        "oidc_authorization_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("consent_id", sa.Uuid(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.String(length=1000), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("auth_time", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oidc_clients.id"],
            name=op.f("fk_oidc_authorization_codes_client_pk_oidc_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["oidc_consents.id"],
            name=op.f("fk_oidc_authorization_codes_consent_id_oidc_consents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_oidc_authorization_codes_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_authorization_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_oidc_authorization_codes_code_hash")),
    )
    with op.batch_alter_table("oidc_authorization_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_authorization_codes_client_pk"), ["client_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_authorization_codes_consent_id"), ["consent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_authorization_codes_person_id"), ["person_id"], unique=False)

    op.create_table(
        "oidc_login_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("short_code", sa.String(length=16), nullable=False),
        sa.Column("browser_secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("force_consent", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "denied",
                "completed",
                name="loginstatus",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("consent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oidc_clients.id"],
            name=op.f("fk_oidc_login_requests_client_pk_oidc_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["oidc_consents.id"],
            name=op.f("fk_oidc_login_requests_consent_id_oidc_consents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_oidc_login_requests_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_login_requests")),
        sa.UniqueConstraint("short_code", name=op.f("uq_oidc_login_requests_short_code")),
    )
    with op.batch_alter_table("oidc_login_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_login_requests_client_pk"), ["client_pk"], unique=False)

    op.create_table(
        "oidc_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("access_token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_pk", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("consent_id", sa.Uuid(), nullable=False),
        sa.Column("code_id", sa.Uuid(), nullable=True),
        sa.Column("scope", sa.String(length=1000), nullable=False),
        sa.Column("dpop_jkt", sa.String(length=64), nullable=True),
        sa.Column("issued_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_pk"], ["oidc_clients.id"], name=op.f("fk_oidc_tokens_client_pk_oidc_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["oidc_authorization_codes.id"],
            name=op.f("fk_oidc_tokens_code_id_oidc_authorization_codes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["oidc_consents.id"],
            name=op.f("fk_oidc_tokens_consent_id_oidc_consents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_oidc_tokens_person_id_persons"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_tokens")),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_oidc_tokens_access_token_hash")),
    )
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_tokens_client_pk"), ["client_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_tokens_code_id"), ["code_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_tokens_consent_id"), ["consent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_tokens_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_person_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_consent_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_code_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_tokens_client_pk"))

    op.drop_table("oidc_tokens")
    with op.batch_alter_table("oidc_login_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_login_requests_client_pk"))

    op.drop_table("oidc_login_requests")
    with op.batch_alter_table("oidc_authorization_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_authorization_codes_person_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_authorization_codes_consent_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_authorization_codes_client_pk"))

    op.drop_table("oidc_authorization_codes")
    with op.batch_alter_table("oidc_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_consents_person_client")

    op.drop_table("oidc_consents")
    op.drop_table("oidc_clients")
    with op.batch_alter_table("oidc_seen_jwts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_seen_jwts_expires_at"))

    op.drop_table("oidc_seen_jwts")
