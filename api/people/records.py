"""Immutable copies of a person's and a municipality's rows, as one point read found them
(``api.people.service.person_with_municipality``, the signed-in person's hot path): plain frozen values of one
request, never ORM instances a session could attach and change, and never kept beyond the request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from api.people.models import Sex


@dataclass(frozen=True, slots=True)
class MunicipalityRecord:
    code: str
    prefecture: str
    name: str


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """Every column of ``Person``, by the same names."""

    id: uuid.UUID
    name: str
    name_kana: str
    birth_date: date
    sex: Sex
    address: str
    municipality_code: str
    email: str | None
    phone: str | None
    individual_number_ciphertext: bytes
    individual_number_hash: bytes
    created_at: datetime
    number_key_generation: int
    number_lookup_generation: int
