"""certificates to a private delivery service: the one-time fetch link, the service's fetch key, the webhook's
members for one service

- ``certificate_issuances``: the chosen service, the fetch token's SHA-256 (unique) and the link's end.
- ``delivery_services.fetch_key_hash``: the key a service sends to take a document offered to it.
- ``notice_deliveries.payload_ciphertext``: sealed members added to one job's webhook (the document's metadata
  and fetch link, for the chosen service only), the same on every retry.

Revision ID: 0030
Revises: 0029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("certificate_issuances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_service_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("fetch_token_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("fetch_until", api.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_certificate_issuances_fetch_token_hash"),
                                          ["fetch_token_hash"])
    with op.batch_alter_table("delivery_services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fetch_key_hash", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_delivery_services_fetch_key_hash"), ["fetch_key_hash"])
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_ciphertext", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_column("payload_ciphertext")
    with op.batch_alter_table("delivery_services", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_delivery_services_fetch_key_hash"), type_="unique")
        batch_op.drop_column("fetch_key_hash")
    with op.batch_alter_table("certificate_issuances", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_certificate_issuances_fetch_token_hash"), type_="unique")
        batch_op.drop_column("fetch_until")
        batch_op.drop_column("fetch_token_hash")
        batch_op.drop_column("delivery_service_id")
