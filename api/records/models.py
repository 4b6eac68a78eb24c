"""The transparency log's tables (RFC 9162 tree stored as Trillian does: every perfect subtree by position).

- ``log_leaves``: one row per record appended. A writer inserts it pending (no ``leaf_index``) in its own
  transaction; the sequencer gives it the next index. ``leaf_data`` is the record's canonical bytes, which
  the 7-year purge erases (``content_erased_at``); ``leaf_hash`` stays, so the tree never changes.
- ``log_nodes``: the hash of every perfect subtree, ``(level, node_index)`` covering leaves
  ``[node_index * 2**level, (node_index + 1) * 2**level)``; level 0 are the leaf hashes. A proof reads at most
  2·log2(n) of them by primary key.
- ``tree_heads``: every signed tree head, one per size (a second head for a size cannot be stored).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, SmallInteger, text
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, utcnow

ROW_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite numbers only INTEGER PRIMARY KEYs


class LogLeaf(Base):
    __tablename__ = "log_leaves"
    __table_args__ = (
        # The sequencer's queue: pending leaves in arrival order.
        Index("ix_log_leaves_pending", "id", postgresql_where=text("leaf_index IS NULL"),
              sqlite_where=text("leaf_index IS NULL")),
        CheckConstraint("length(leaf_hash) = 32", name="leaf_hash_size"),
    )

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    leaf_index: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    integrated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LogNode(Base):
    __tablename__ = "log_nodes"
    __table_args__ = (CheckConstraint("length(hash) = 32", name="hash_size"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeHeadRow(Base):
    __tablename__ = "tree_heads"
    __table_args__ = (CheckConstraint("length(root_hash) = 32", name="root_hash_size"),)

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    key_generation: Mapped[int] = mapped_column(SmallInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
