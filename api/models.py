"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from api.agencies.models import Agency, AgencyCredential, AgencyKind, AgencyPersonCode
from api.audit.models import AccessRecord
from api.db import Base
from api.identity.models import SessionToken
from api.people.models import Municipality, ParentChild, Person, Sex

__all__ = [
    "AccessRecord",
    "Agency",
    "AgencyCredential",
    "AgencyKind",
    "AgencyPersonCode",
    "Base",
    "Municipality",
    "ParentChild",
    "Person",
    "SessionToken",
    "Sex",
]
