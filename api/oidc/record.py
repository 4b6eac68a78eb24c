"""What a relying party receives about a person goes on the person's record (やりとり履歴) as an exchange naming
the client (its agency row) as the requester: the ID token's and userinfo's claims (provided by the portal from
the 基本4情報) and each 自己情報取得API read (provided by the agencies that hold the data). Item names only, never
values; each record's leaf goes to the transparency log in the same transaction, as the hub's do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.agencies.models import Agency, AgencyKind
from api.exchange.legal_table import legal_table
from api.exchange.models import ExchangeRecord
from api.exchange.record import exchange_record_leaf
from api.oidc.models import OidcClient
from api.platform.db import new_id, utcnow
from api.records import merkle
from api.records.models import LogLeaf
from api.selfinfo.held import PORTAL_AGENCY_NAME, PORTAL_AGENCY_SLUG, append_to_log, portal_agency

PROCESSING_TYPE = "oidc"  # a consented release to a relying party, not a 別表第二 exchange


@dataclass(frozen=True)
class Release:
    """A release's record as plain values: what the leaf (api.exchange.record) and the insert read (an ORM row
    would only be built to be read back)."""

    id: uuid.UUID
    query_id: uuid.UUID
    requester_agency_id: uuid.UUID
    provider_agency_id: uuid.UUID
    person_id: uuid.UUID
    duty: str
    item_names: list[str]
    legal_row_id: None
    legal_table_version: str
    requested_at: datetime
    provided_at: datetime
    processing_type: str
    outcome: str
    refusal_code: None = None
    hidden_until: None = None
    hidden_reason: None = None


def _release(client: OidcClient, provider_id: uuid.UUID, person_id: uuid.UUID, items: list[str],
             duty: str) -> Release:
    now = utcnow()
    # Ids set here, not at flush: the leaf (which names them) is written before the record that points to it.
    return Release(id=new_id(), query_id=new_id(), requester_agency_id=client.agency_id,
                   provider_agency_id=provider_id, person_id=person_id, duty=duty[:64], item_names=items,
                   legal_row_id=None, legal_table_version=legal_table().version, requested_at=now, provided_at=now,
                   processing_type=PROCESSING_TYPE, outcome="provided")


def _record(client: OidcClient, provider_id: uuid.UUID, person_id: uuid.UUID, items: list[str],
            duty: str) -> ExchangeRecord:
    return ExchangeRecord(**vars(_release(client, provider_id, person_id, items, duty)))


# Core statements on the tables, values as parameters: compiled once, cheap per row (the ORM's bulk path per call
# cost more than the insert itself).
_INSERT_LEAF = LogLeaf.__table__.insert().returning(LogLeaf.__table__.c.id)
_INSERT_RECORD = ExchangeRecord.__table__.insert()
# The columns a release writes (the leaf's, the record's), also those of the token endpoint's combined write
# (api.oidc.exchange).
LEAF_COLUMNS = ("leaf_hash", "leaf_data", "queued_at")
RECORD_COLUMNS = ("id", "query_id", "requester_agency_id", "provider_agency_id", "person_id", "duty", "item_names",
                  "legal_row_id", "legal_table_version", "requested_at", "provided_at", "processing_type", "outcome")


def _leaf_parameters(record: ExchangeRecord | Release) -> dict[str, Any]:
    leaf = exchange_record_leaf(record)
    return dict(zip(LEAF_COLUMNS, (merkle.leaf_hash(leaf), leaf, utcnow()), strict=True))


def _record_parameters(record: ExchangeRecord | Release, leaf_id: int) -> dict[str, Any]:
    return {**{name: getattr(record, name) for name in RECORD_COLUMNS}, "log_leaf_id": leaf_id}


class PortalAgency:
    """The portal's own agency id (the provider of the 基本4情報), looked up once: the row never changes."""

    def __init__(self) -> None:
        self._id: uuid.UUID | None = None

    def sync(self, session: Session) -> uuid.UUID:
        if self._id is None:
            portal = session.scalar(select(Agency).where(Agency.slug == PORTAL_AGENCY_SLUG))
            if portal is None:
                portal = Agency(slug=PORTAL_AGENCY_SLUG, name=PORTAL_AGENCY_NAME, kind=AgencyKind.MINISTRY)
                session.add(portal)
                session.flush()
            self._id = portal.id
        return self._id

    async def get(self, session: AsyncSession) -> uuid.UUID:
        if self._id is None:
            self._id = (await portal_agency(session)).id
        return self._id


def record_release_sync(session: Session, portal_id: uuid.UUID, client: OidcClient, person_id: uuid.UUID,
                        items: list[str], *, duty: str) -> None:
    """The token endpoint's side (Authlib's synchronous hooks): the portal released these claims. Two statements:
    the leaf, then the record naming it."""
    record = _release(client, portal_id, person_id, items or ["sub"], duty)
    leaf_id = session.execute(_INSERT_LEAF, _leaf_parameters(record)).scalar_one()
    session.execute(_INSERT_RECORD, _record_parameters(record, leaf_id))


def release_values(portal_id: uuid.UUID, client: OidcClient, person_id: uuid.UUID, items: list[str], *,
                   duty: str) -> dict[str, Any]:
    """The same release's leaf and record values, for the token endpoint's one combined write (api.oidc.exchange:
    the record names its leaf through the statement)."""
    record = _release(client, portal_id, person_id, items or ["sub"], duty)
    return {**_leaf_parameters(record), **{name: getattr(record, name) for name in RECORD_COLUMNS}}


async def record_portal_release(session: AsyncSession, portal_id: uuid.UUID, client: OidcClient,
                                person_id: uuid.UUID, items: list[str], *, duty: str) -> None:
    """The same from the async stack (userinfo): two statements, the portal's id known."""
    record = _release(client, portal_id, person_id, items or ["sub"], duty)
    leaf_id = (await session.execute(_INSERT_LEAF, _leaf_parameters(record))).scalar_one()
    await session.execute(_INSERT_RECORD, _record_parameters(record, leaf_id))


async def record_release(session: AsyncSession, client: OidcClient, person_id: uuid.UUID,
                         by_provider: dict[uuid.UUID | None, list[str]], *, duty: str) -> list[ExchangeRecord]:
    """One record per providing agency (None: the portal itself, for the 基本4情報)."""
    records = []
    for provider, items in by_provider.items():
        provider_id = provider if provider is not None else (await portal_agency(session)).id
        records.append(_record(client, provider_id, person_id, sorted(items), duty))
    session.add_all(records)
    await session.flush()
    await append_to_log(session, records)
    return records
