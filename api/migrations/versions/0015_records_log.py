"""records log: the exchange records' RFC 9162 transparency log (leaves, perfect subtrees, signed tree heads)

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_leaves",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_data", sa.LargeBinary(), nullable=True),
        sa.Column("queued_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("integrated_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("content_erased_at", api.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("length(leaf_hash) = 32", name=op.f("ck_log_leaves_leaf_hash_size")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_leaves")),
        sa.UniqueConstraint("leaf_index", name=op.f("uq_log_leaves_leaf_index")),
    )
    op.create_index("ix_log_leaves_pending", "log_leaves", ["id"], unique=False,
                    postgresql_where=sa.text("leaf_index IS NULL"), sqlite_where=sa.text("leaf_index IS NULL"))
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.CheckConstraint("length(hash) = 32", name=op.f("ck_log_nodes_hash_size")),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_log_nodes")),
    )
    op.create_table(
        "tree_heads",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("key_generation", sa.SmallInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("signed_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(root_hash) = 32", name=op.f("ck_tree_heads_root_hash_size")),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_tree_heads")),
    )


def downgrade() -> None:
    op.drop_table("tree_heads")
    op.drop_table("log_nodes")
    op.drop_index("ix_log_leaves_pending", table_name="log_leaves")
    op.drop_table("log_leaves")
