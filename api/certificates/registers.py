"""The municipal registers certificates are made from, per municipality of the sandbox.

住民基本台帳 (one row per resident: household, 続柄, 本籍・筆頭者, address history), 印鑑登録 (the registered
seal's image and number), 戸籍 (held by the 本籍 municipality, which may differ from the residence) and the
municipality's own tax assessments. Each row names the municipality that keeps it: a certificate is issued only
by the municipality that holds the register it comes from.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.platform.db import Base, UTCDateTime, new_id, utcnow


class ResidentRecord(Base):
    """住民票: a person's entry in the 住民基本台帳 of the municipality they live in (住民基本台帳法 §7)."""

    __tablename__ = "resident_records"
    __table_args__ = (Index("ix_resident_records_household", "municipality_code", "household_id"),)

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                 primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"))
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    is_head: Mapped[bool] = mapped_column(Boolean)
    relationship: Mapped[str] = mapped_column(String(20))  # 続柄 to the head: 世帯主, 妻, 子 ...
    order_in_household: Mapped[int] = mapped_column(SmallInteger)
    became_resident_on: Mapped[date] = mapped_column(Date)  # 住民となつた年月日
    address_set_on: Mapped[date] = mapped_column(Date)  # 住所を定めた年月日
    notified_on: Mapped[date] = mapped_column(Date)  # 届出の年月日
    previous_address: Mapped[str | None] = mapped_column(String(300))  # 従前の住所
    honseki: Mapped[str | None] = mapped_column(String(300))  # 本籍
    hittosha: Mapped[str | None] = mapped_column(String(100))  # 筆頭者
    honseki_municipality_code: Mapped[str | None] = mapped_column(String(6), ForeignKey("municipalities.code"))


class AddressHistory(Base):
    """Where the person lived, in order (the 附票's content and the 住民票's 前住所)."""

    __tablename__ = "address_history"
    __table_args__ = (UniqueConstraint("person_id", "moved_in_on"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"))
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"))
    address: Mapped[str] = mapped_column(String(300))
    moved_in_on: Mapped[date] = mapped_column(Date)
    moved_out_on: Mapped[date | None] = mapped_column(Date)


class SealRegistration(Base):
    """印鑑登録: one registered seal per person and municipality (each municipality's 印鑑条例)."""

    __tablename__ = "seal_registrations"
    __table_args__ = (UniqueConstraint("municipality_code", "registration_number"),)

    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"),
                                                 primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"))
    registration_number: Mapped[str] = mapped_column(String(20))  # 印鑑登録番号
    seal_png: Mapped[bytes] = mapped_column(LargeBinary)  # the impression (印影), as registered
    registered_on: Mapped[date] = mapped_column(Date)


class FamilyRegister(Base):
    """戸籍: held by the municipality of its 本籍."""

    __tablename__ = "family_registers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"), index=True)
    honseki: Mapped[str] = mapped_column(String(300))
    hittosha: Mapped[str] = mapped_column(String(100))
    formed_on: Mapped[date] = mapped_column(Date)  # 編製日


class FamilyRegisterMember(Base):
    """A person of a 戸籍 (戸籍法 §13); ``events`` are the 身分事項 (出生, 婚姻 ...) as [{kind, date, text}]."""

    __tablename__ = "family_register_members"
    __table_args__ = (UniqueConstraint("register_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    register_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("family_registers.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="SET NULL"),
                                                        index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    father: Mapped[str | None] = mapped_column(String(100))
    mother: Mapped[str | None] = mapped_column(String(100))
    relationship: Mapped[str] = mapped_column(String(20))  # 続柄 in the 戸籍: 夫, 妻, 長男 ...
    events: Mapped[list[dict[str, str]]] = mapped_column(JSON)


class TaxAssessment(Base):
    """The municipality's own 住民税 assessment of a person for a tax year (課税・所得証明書)."""

    __tablename__ = "tax_assessments"
    __table_args__ = (UniqueConstraint("municipality_code", "person_id", "tax_year"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"))
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    tax_year: Mapped[int] = mapped_column(SmallInteger)
    total_income: Mapped[int] = mapped_column(BigInteger)  # 合計所得金額, yen
    taxable_income: Mapped[int] = mapped_column(BigInteger)  # 課税標準額, yen
    municipal_tax: Mapped[int] = mapped_column(Integer)  # 市区町村民税, yen
    prefectural_tax: Mapped[int] = mapped_column(Integer)  # 道府県民税, yen
    dependants: Mapped[int] = mapped_column(SmallInteger)
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateOffice(Base):
    """A municipality that issues certificates here: its mayor (the issuer named on the paper), the agency that
    collects its fees, and the fee of each certificate in yen (each municipality decides its own)."""

    __tablename__ = "certificate_offices"

    municipality_code: Mapped[str] = mapped_column(String(6), ForeignKey("municipalities.code"), primary_key=True)
    mayor_name: Mapped[str] = mapped_column(String(100))
    agency_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agencies.id"))
    fees: Mapped[dict[str, int]] = mapped_column(JSON)
