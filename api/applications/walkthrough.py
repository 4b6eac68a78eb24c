"""The 子育てワンストップ walkthrough `make run` prints: the demo parent finds 児童手当 (さがす and ぴったり), starts
the claim for the child, consents to the income coming through the network (no 課税証明書), chooses the
公金受取口座 (registered here if missing), and leaves a draft ready for the card's signature."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.applications import bank_account, drafts
from api.applications.catalogue import Fit, Procedure, Query
from api.applications.discover import find, pittari
from api.applications.models import Application
from api.exchange.hub import Hub
from api.people.models import ParentChild, Person

PROCEDURE = "child_allowance_claim"


@dataclass(frozen=True)
class Ready:
    found: list[tuple[Procedure, list[str]]]
    fits: list[Fit]
    application: Application
    prefill: drafts.NetworkPrefill


async def ready_draft(session_factory: async_sessionmaker[AsyncSession], email: str, today: date) -> Ready:
    async with session_factory() as session:
        parent = await session.scalar(select(Person).where(Person.email == email))
        if parent is None:
            raise LookupError(f"no person {email}: run `mynaportal demo-seed` first")
        child_id: uuid.UUID | None = await session.scalar(
            select(ParentChild.child_id).where(ParentChild.parent_id == parent.id).limit(1))
    if child_id is None:
        raise LookupError(f"{email} has no child")
    found = await find(session_factory, Query(keyword="じどうてあて"), parent.municipality_code)
    fits = await pittari(session_factory, parent.id, today)
    if await bank_account.account_of(session_factory, parent.id) is None:
        await bank_account.register_account(session_factory, parent.id, bank_account.NewAccount(
            "0001", "001", "ordinary", "1234567", parent.name_kana))
    draft = await drafts.start_draft(session_factory, parent.id, PROCEDURE, child_id, today=today)
    prefill = await drafts.prefill_from_network(session_factory, Hub(session_factory), parent.id, draft.id,
                                                ["local_tax"])
    form = {**prefill.application.form, "payTo": {"usePublicBenefitAccount": True}}
    saved = await drafts.save_draft(session_factory, parent.id, draft.id, form, prefill.application.revision)
    return Ready(found, fits, saved, prefill)
