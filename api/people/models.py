"""Tables of people: municipalities, persons (基本4情報 + encrypted individual number), parent links."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, LargeBinary, SmallInteger, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class Sex(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"


class Municipality(Base):
    __tablename__ = "municipalities"

    # 全国地方公共団体コード: 5 digits and a check digit.
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    prefecture: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(50))


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(Enum(Sex, native_enum=False, create_constraint=True, length=10,
                                          values_callable=lambda e: [m.value for m in e]))
    address: Mapped[str] = mapped_column(String(300))
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"), index=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    # AES-GCM nonce + ciphertext + tag; never the clear number.
    individual_number_ciphertext: Mapped[bytes] = mapped_column(LargeBinary(64))
    individual_number_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Key generations (api.platform.keys) of the ciphertext and of the hash; the re-encryption job moves rows to
    # the newest (api.people.key_rotation).
    number_key_generation: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    number_lookup_generation: Mapped[int] = mapped_column(SmallInteger, server_default="1")


class ParentChild(Base):
    """A parent (親権者) of a child; parents may act for their minor children."""

    __tablename__ = "parent_child"
    __table_args__ = (CheckConstraint("parent_id <> child_id", name="not_self"),)

    parent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                 primary_key=True)
    child_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                primary_key=True, index=True)
