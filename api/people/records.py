"""Immutable copies of a person's and a municipality's rows, as read at one moment.

The token lookup reads the signed-in person with their token (api.identity.authentication), and this
process may keep what it read for the next requests (api.identity.session_cache): kept objects are shared
between requests, so they are plain frozen values, never ORM instances a session could attach and change.
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
