"""PROVISIONAL: the exchange record as X1's api.exchange will define it (replaced by api.exchange.models on merge)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class ExchangeRecord(Base):
    __tablename__ = "exchange_records"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    requester_agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    provider_agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    duty: Mapped[str] = mapped_column(String(200))
    item_names: Mapped[list[str]] = mapped_column(JSON)
    legal_basis: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    provided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    query_id: Mapped[str | None] = mapped_column(String(100))
    processing_type: Mapped[str | None] = mapped_column(String(40))
    hidden_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(40))
