"""the OpenID Provider: an authorization code names the signing transaction its request was tied to (scope sign)

Revision ID: 0031
Revises: 0030
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_authorization_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sign_transaction_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_oidc_authorization_codes_sign_transaction_id_oidc_sign_transactions"),
            "oidc_sign_transactions", ["sign_transaction_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("oidc_authorization_codes", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_oidc_authorization_codes_sign_transaction_id_oidc_sign_transactions"), type_="foreignkey")
        batch_op.drop_column("sign_transaction_id")
