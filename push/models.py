"""Web Push tables: VAPID key generations and the devices' push subscriptions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class VapidKey(Base):
    """One VAPID key pair per generation; the highest generation signs new subscriptions.

    Older generations stay while subscriptions made with them exist: a push service checks the JWT
    against the key the browser subscribed with.
    """

    __tablename__ = "vapid_keys"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # base64url of the uncompressed P-256 point: the applicationServerKey browsers subscribe with.
    public_key: Mapped[str] = mapped_column(String(100), unique=True)
    private_key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PushSubscription(Base):
    __tablename__ = "push_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(40))
    vapid_generation: Mapped[int] = mapped_column(Integer, ForeignKey("vapid_keys.generation"))
    device_label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
