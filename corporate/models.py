"""Tables: every published state of every corporation, and the application ids of the public API.

`corporations` keeps history: one row per published state, identified by (corporate number, hash of
the state), so importing the same file twice, or the same state from a full file and a diff, stores
it once. `latest` marks the newest state of each number by (update date, sequence number), whatever
order the files arrived in. The search keys (api.platform.normalise) are stored beside the originals and
indexed: B-tree for prefix search; FTS5 trigram (SQLite, created in the migration) or pg_trgm GIN
and a trigram posting table (PostgreSQL, migration 0008) for partial search.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.people.models import Person
from api.platform.db import Base, UTCDateTime, new_id

# The SQLite FTS5 indexes of the search keys (trigrams, pairs) and their shadow tables, and PostgreSQL's
# trigram postings: created by the migrations (0006, 0008, 0025) and kept by triggers, not mapped.
SEARCH_INDEX = "corporation_search"
PAIR_INDEX = "corporation_pairs"  # SQLite's FTS5 index of character pairs (migration 0025)
POSTINGS = "corporation_trigrams"
UNMAPPED_TABLES = frozenset({SEARCH_INDEX, PAIR_INDEX, POSTINGS, *(
    f"{index}_{suffix}" for index in (SEARCH_INDEX, PAIR_INDEX)
    for suffix in ("data", "idx", "docsize", "config", "content"))})
def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic hook: the search index tables are the migrations', not the ORM's; leave them out of comparisons."""
    return not (type_ == "table" and name in UNMAPPED_TABLES)


ROW_ID = BigInteger().with_variant(Integer(), "sqlite")  # an INTEGER PRIMARY KEY is SQLite's rowid


class Corporation(Base):
    __tablename__ = "corporations"
    __table_args__ = (
        UniqueConstraint("corporate_number", "record_hash"),
        Index("ix_corporations_update_date", "update_date"),
        Index("ix_corporations_search_name", "search_name", postgresql_ops={"search_name": "text_pattern_ops"}),
        Index("ix_corporations_search_kana", "search_kana", postgresql_ops={"search_kana": "text_pattern_ops"}),
        Index("ix_corporations_search_en", "search_en", postgresql_ops={"search_en": "text_pattern_ops"}),
        Index("ix_corporations_search_text_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    corporate_number: Mapped[str] = mapped_column(String(13))
    sequence_number: Mapped[int] = mapped_column(Integer)
    process: Mapped[str] = mapped_column(String(2))
    correct: Mapped[str | None] = mapped_column(String(1))
    update_date: Mapped[date] = mapped_column(Date)
    change_date: Mapped[date | None] = mapped_column(Date)
    name: Mapped[str | None] = mapped_column(Text)
    name_image_id: Mapped[str | None] = mapped_column(String(8))
    kind: Mapped[str | None] = mapped_column(String(3))
    prefecture_name: Mapped[str | None] = mapped_column(Text)
    city_name: Mapped[str | None] = mapped_column(Text)
    street_number: Mapped[str | None] = mapped_column(Text)
    address_image_id: Mapped[str | None] = mapped_column(String(8))
    prefecture_code: Mapped[str | None] = mapped_column(String(2))
    city_code: Mapped[str | None] = mapped_column(String(3))
    post_code: Mapped[str | None] = mapped_column(String(7))
    address_outside: Mapped[str | None] = mapped_column(Text)
    address_outside_image_id: Mapped[str | None] = mapped_column(String(8))
    close_date: Mapped[date | None] = mapped_column(Date)
    close_cause: Mapped[str | None] = mapped_column(String(2))
    successor_corporate_number: Mapped[str | None] = mapped_column(String(13))
    change_cause: Mapped[str | None] = mapped_column(Text)
    assignment_date: Mapped[date | None] = mapped_column(Date)
    # Ours, not the file's: the newest state of the number, maintained on every import.
    latest: Mapped[bool] = mapped_column(Boolean)
    en_name: Mapped[str | None] = mapped_column(Text)
    en_prefecture_name: Mapped[str | None] = mapped_column(Text)
    en_city_name: Mapped[str | None] = mapped_column(Text)
    en_address_outside: Mapped[str | None] = mapped_column(Text)
    furigana: Mapped[str | None] = mapped_column(Text)
    hihyoji: Mapped[str | None] = mapped_column(String(1))
    record_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    search_name: Mapped[str] = mapped_column(Text)
    search_kana: Mapped[str] = mapped_column(Text)
    search_en: Mapped[str] = mapped_column(Text)
    # The three keys joined by U+001F, the one column the trigram index covers.
    search_text: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApplicationId(Base):
    """An application id (アプリケーションID) of the public API. Only its SHA-256 is stored."""

    __tablename__ = "corporate_application_ids"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # The first characters, shown in listings so the owner can tell ids apart.
    hint: Mapped[str] = mapped_column(String(4))
    label: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(Person.id), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApplicationUsage(Base):
    """Requests per application id and UTC day (counted in each worker, added here in batches)."""

    __tablename__ = "corporate_application_usage"

    application_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("corporate_application_ids.id", name="fk_corporate_application_usage_application_id"),
        primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger)
