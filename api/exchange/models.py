"""Exchange tables: providers' copies (副本), live provider endpoints, and one record per exchange.

The legal table (別表第二) is not stored: it is versioned data in the repository (api/exchange/data),
and each record names the row it relied on (``legal_row_id``, e.g. "beppyo2:56") and the table version.
A record never holds a value, only item names (番号法 Art. 23; Estonia's Data Tracker).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class ExchangeCopy(Base):
    """One data item a provider registered for a person it knows by its own code (副本 on the 中間サーバー)."""

    __tablename__ = "exchange_copies"
    __table_args__ = (UniqueConstraint("provider_agency_id", "person_id", "item_kind", "item_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    provider_agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"))
    # Internal: resolved from the provider's code when registering, so the hub never maps codes twice.
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    item_kind: Mapped[str] = mapped_column(String(64))
    # Distinguishes several items of one kind (a tax year, a pension kind); "" when there is one.
    item_key: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[dict] = mapped_column(JSON)
    # SHA-256 of the canonical value: an identical re-registration changes nothing.
    value_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExchangeEndpoint(Base):
    """A provider that answers live (instead of from copies) for some item kinds."""

    __tablename__ = "exchange_endpoints"
    __table_args__ = (UniqueConstraint("provider_agency_id", "item_kind"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    provider_agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"))
    item_kind: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExchangeRecord(Base):
    """One exchange, provided or refused: what 番号法 Art. 23 requires, without any value.

    Columns may be added, never changed: the person's view (やりとり履歴) and the transparency log read them.
    """

    __tablename__ = "exchange_records"
    __table_args__ = (
        Index("ix_exchange_records_person_requested", "person_id", "requested_at"),
        Index("ix_exchange_records_requester_requested", "requester_agency_id", "requested_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # Joins the requester's and the provider's side of one exchange (both see the same id).
    query_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    requester_agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"))
    # NULL when a refused request never reached a provider (e.g. no legal row names one).
    provider_agency_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agencies.id", ondelete="CASCADE"),
                                                                 index=True)
    # Internal; NULL when the requester's code matched nobody (that refusal is still recorded).
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    duty: Mapped[str] = mapped_column(String(64))
    # JSON list of item kind names, never values.
    item_names: Mapped[list] = mapped_column(JSON)
    legal_row_id: Mapped[str | None] = mapped_column(String(64))
    legal_table_version: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    provided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "copy" (answered from 副本), "live" (the provider's endpoint), "refused".
    processing_type: Mapped[str] = mapped_column(String(16))
    # "provided" or "refused"; refusal_code is the stable error code when refused.
    outcome: Mapped[str] = mapped_column(String(16))
    refusal_code: Mapped[str | None] = mapped_column(String(64))
    # The law lets an agency withhold an entry from the person for a time (番号法 Art. 23 ③ / 令 Art. 29).
    hidden_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    # The record's leaf in the transparency log (api.records): its proof is found by it.
    log_leaf_id: Mapped[int | None] = mapped_column(BigInteger)
