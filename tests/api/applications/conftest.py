"""The 子育てワンストップ fixtures: the demo family on a running portal with the sandbox CA (the identity tests'
fixtures), the exchange hub, Chiyoda's inbox key, and helpers to sign with a virtual card's signature key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.credentials import APPLICATIONS_DECIDE, APPLICATIONS_INBOX, agency_by_slug, issue_agency_key
from api.applications import drafts, submission
from api.applications.models import Application
from api.exchange.hub import Hub
from api.platform.db import create_session_factory
from nfc_bridge.jpki import Key
from nfc_bridge.virtual_card.store import CardData
from tests.api.identity.conftest import IdentityPortal, ca_dir, card_sign, identity, sandbox_ca  # noqa: F401

TODAY = date(2026, 12, 5)


@dataclass
class OneStop:
    identity: IdentityPortal
    factory: async_sessionmaker[AsyncSession]
    hub: Hub
    inbox_key: str
    chiyoda_id: uuid.UUID

    @property
    def father(self) -> uuid.UUID:
        return self.identity.portal.father

    @property
    def mother(self) -> uuid.UUID:
        return self.identity.portal.mother

    @property
    def child(self) -> uuid.UUID:
        return self.identity.portal.child

    async def card(self, person: uuid.UUID) -> CardData:
        return await self.identity.card_for(person)

    async def ready_draft(self, actor: uuid.UUID | None = None, procedure: str = "child_allowance_claim",
                          subject: uuid.UUID | None = None) -> Application:
        """A 児童手当 claim by the father for the child, income from the network, paid to the 公金受取口座
        choice off but with nothing to attach: complete except for the bank-account proof."""
        actor = actor or self.father
        draft = await drafts.start_draft(self.factory, actor, procedure,
                                         self.child if subject is None else subject, today=TODAY)
        form = dict(draft.form)
        form["payTo"] = {"usePublicBenefitAccount": True}
        return await drafts.save_draft(self.factory, actor, draft.id, form, draft.revision)

    async def signed(self, card: CardData, actor: uuid.UUID, application_id: uuid.UUID) -> dict[str, Any]:
        to_sign = await submission.to_sign(self.factory, actor, application_id)
        return {"certificate": card.der("sign_cert"), "chain": [card.der("sign_ca_cert")],
                "signature": card_sign(card, Key.SIGN, to_sign.document)}

    async def submit(self, actor: uuid.UUID, application_id: uuid.UUID, material: dict[str, Any],
                     form_version: int = 1) -> Application:
        return await submission.submit(self.factory, self.identity.service, actor, application_id,
                                       form_version=form_version, today=TODAY, **material)


@pytest.fixture
async def one_stop(identity: IdentityPortal) -> AsyncIterator[OneStop]:  # noqa: F811
    factory = create_session_factory(identity.engine)
    async with factory() as session, session.begin():
        chiyoda = await agency_by_slug(session, "chiyoda-city")
        assert chiyoda is not None
        key = await issue_agency_key(session, chiyoda.id, label="申請管理システム",
                                     scopes=frozenset({APPLICATIONS_INBOX, APPLICATIONS_DECIDE}))
    yield OneStop(identity, factory, Hub(factory), key, chiyoda.id)
