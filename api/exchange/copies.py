"""Providers' copies (副本): registered in bulk under the provider's own codes, idempotent by content.

A copy is keyed by (provider, person, item kind, key); registering the same value again changes nothing, a new
value replaces the old one. The provider's code is resolved once here, so the hub answers by the person alone.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import AgencyPersonCode
from api.agencies.service import assign_code
from api.exchange.items import check_item
from api.exchange.legal_table import legal_table
from api.exchange.models import ExchangeCopy, ExchangeEndpoint
from api.platform.db import new_id, utcnow
from api.platform.errors import ErrorCode, PortalError
from payments import idempotency

MAX_BATCH = 1000


@dataclass(frozen=True)
class CopyEntry:
    person_code: str
    item_kind: str
    value: Any
    key: Any = None


@dataclass(frozen=True)
class RegistrationResult:
    batch_id: uuid.UUID
    created: int
    updated: int
    unchanged: int
    replayed: bool = False


def value_hash(value: dict[str, Any]) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _checked(entries: list[CopyEntry]) -> list[tuple[str, str, str, dict[str, Any]]]:
    if not 0 < len(entries) <= MAX_BATCH:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"Send 1 to {MAX_BATCH} copies at once.",
                          extensions={"field": "copies"})
    kinds = legal_table().items
    checked: dict[tuple[str, str, str], dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        if entry.item_kind not in kinds:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"copies[{index}]: unknown item kind {entry.item_kind!r}.",
                              extensions={"field": f"copies[{index}].itemKind"})
        key, value = check_item(entry.item_kind, entry.value, entry.key)
        slot = (entry.person_code, entry.item_kind, key)
        if slot in checked and checked[slot] != value:
            raise PortalError(ErrorCode.BAD_USER_INPUT, f"copies[{index}] gives another value for the same copy.",
                              extensions={"field": f"copies[{index}]"})
        checked[slot] = value
    return [(code, kind, key, value) for (code, kind, key), value in checked.items()]


async def register_copies(
    session_factory: async_sessionmaker[AsyncSession], provider_id: uuid.UUID, entries: list[CopyEntry],
    *, idempotency_key: str | None = None,
) -> RegistrationResult:
    """Upsert the copies in one transaction: all or none (an unknown code refuses the whole batch).

    With an Idempotency-Key, a replay of the same batch answers ``replayed`` with the first batch's id and
    changes nothing; the same key with another batch is IDEMPOTENCY_KEY_REUSED.
    """
    checked = _checked(entries)
    scope = f"exchange-copies:{provider_id}"
    async with session_factory() as session, session.begin():
        if idempotency_key is not None:
            digest_body = {"copies": [[code, kind, key, value] for code, kind, key, value in checked]}
            earlier = await idempotency.claim(session, scope, idempotency_key, digest_body, now=utcnow())
            if earlier is not None:
                return RegistrationResult(batch_id=earlier, created=0, updated=0, unchanged=0, replayed=True)
        result = await _upsert(session, provider_id, checked)
        if idempotency_key is not None:
            await idempotency.remember(session, scope, idempotency_key, result.batch_id)
    return result


async def upsert_copies(session: AsyncSession, provider_id: uuid.UUID, entries: list[CopyEntry]) -> RegistrationResult:
    """The same in the caller's transaction (the demo data)."""
    return await _upsert(session, provider_id, _checked(entries))


async def hold_registry_copy(session: AsyncSession, provider_id: uuid.UUID, person_id: uuid.UUID, kind: str,
                             value: dict[str, Any] | None) -> None:
    """A registry the portal itself keeps (the 公金受取口座) holds its copy for the network in step with it, in the
    caller's transaction: the value, or none (``None``: withdrawn). The provider gets its code for the person,
    which the hub needs to answer from the copy."""
    if value is None:
        await session.execute(delete(ExchangeCopy).where(
            ExchangeCopy.provider_agency_id == provider_id, ExchangeCopy.person_id == person_id,
            ExchangeCopy.item_kind == kind))
        return
    code = await assign_code(session, provider_id, person_id)
    await _upsert(session, provider_id, _checked([CopyEntry(code, kind, value)]))


async def _upsert(session: AsyncSession, provider_id: uuid.UUID,
                  checked: list[tuple[str, str, str, dict[str, Any]]]) -> RegistrationResult:
    codes = sorted({code for code, _, _, _ in checked})
    people = dict((await session.execute(
        select(AgencyPersonCode.code, AgencyPersonCode.person_id)
        .where(AgencyPersonCode.agency_id == provider_id, AgencyPersonCode.code.in_(codes))
    )).all())
    unknown = [code for code in codes if code not in people]
    if unknown:
        raise PortalError(ErrorCode.EXCHANGE_PERSON_UNKNOWN,
                          f"{len(unknown)} person code(s) are not your agency's codes; nothing was registered.",
                          extensions={"field": "copies"})
    slots = [(people[code], kind, key) for code, kind, key, _ in checked]
    existing = {(row.person_id, row.item_kind, row.item_key): row for row in await session.scalars(
        select(ExchangeCopy).where(
            ExchangeCopy.provider_agency_id == provider_id,
            tuple_(ExchangeCopy.person_id, ExchangeCopy.item_kind, ExchangeCopy.item_key).in_(slots)))}
    created = updated = unchanged = 0
    now = utcnow()
    for (code, kind, key, value), slot in zip(checked, slots, strict=True):
        digest = value_hash(value)
        row = existing.get(slot)
        if row is None:
            session.add(ExchangeCopy(provider_agency_id=provider_id, person_id=people[code], item_kind=kind,
                                     item_key=key, value=value, value_hash=digest, updated_at=now))
            created += 1
        elif row.value_hash != digest:
            row.value, row.value_hash, row.updated_at = value, digest, now
            updated += 1
        else:
            unchanged += 1
    await session.flush()
    return RegistrationResult(batch_id=new_id(), created=created, updated=updated, unchanged=unchanged)


async def register_endpoint(
    session_factory: async_sessionmaker[AsyncSession], provider_id: uuid.UUID, item_kind: str, url: str
) -> None:
    """The provider answers this item kind live at ``url`` (instead of from copies); the same call replaces it."""
    if item_kind not in legal_table().items:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"Unknown item kind {item_kind!r}.",
                          extensions={"field": "itemKind"})
    parts = urlsplit(url)
    # Plain HTTP only on loopback (tests, a provider's local adapter): anything else crosses a network.
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if len(url) > 500 or not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise PortalError(ErrorCode.BAD_USER_INPUT, "The endpoint must be an https URL (http only on loopback), "
                          "of up to 500 characters.", extensions={"field": "url"})
    async with session_factory() as session, session.begin():
        row = await session.scalar(select(ExchangeEndpoint).where(ExchangeEndpoint.provider_agency_id == provider_id,
                                                                   ExchangeEndpoint.item_kind == item_kind))
        if row is None:
            session.add(ExchangeEndpoint(provider_agency_id=provider_id, item_kind=item_kind, url=url))
        else:
            row.url = url
