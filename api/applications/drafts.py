"""Drafts: started for oneself or a child (or, with a grant, for a principal), prefilled from the person's
record and, with consent per item, from the information-exchange network, saved as they are typed.

Only the applicant edits; a save names the revision it started from, so two devices never overwrite each other
silently. Every network read is an exchange the municipality makes through the hub, under the procedure's duty:
it is on the person's やりとり履歴 like any other.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency
from api.agencies.service import assign_code
from api.applications.catalogue import Procedure, procedure
from api.applications.models import (
    CORRECTION_REQUESTED,
    DECIDED,
    DRAFT,
    WITHDRAWN,
    Application,
    ApplicationEvent,
    PublicBenefitAccount,
)
from api.applications.offerings import municipality_agency_id, offering_for
from api.exchange.hub import ExchangeRequest, Hub
from api.exchange.models import ExchangeCopy
from api.people.models import Person
from api.platform.db import utcnow
from api.platform.errors import PortalError
from api.platform.scopes import APPLICATIONS_WRITE
from api.proxies.service import acting_for

MAX_FORM_BYTES = 64 * 1024
EDITABLE = (DRAFT, CORRECTION_REQUESTED)
APPLICANT_SECTIONS = ("claimant", "guardian", "person", "recipient")


async def start_draft(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID, procedure_code: str,
                      subject_id: uuid.UUID | None, *, today: date) -> Application:
    proc = procedure(procedure_code)
    subject_id = subject_id or actor_id
    if (proc.applies_for == "child") == (subject_id == actor_id):
        raise PortalError("APPLICATION_SUBJECT_INVALID",
                          "Name the child this is for." if proc.applies_for == "child"
                          else "This procedure is applied for by the person themselves.",
                          extensions={"field": "subject"})
    async with session_factory() as session, session.begin():
        acting = await acting_for(session, actor_id, subject_id, APPLICATIONS_WRITE, today=today,
                                  purpose=f"application:{proc.code}")
        if acting is None:
            raise PortalError("NOT_AUTHORIZED_FOR_PERSON", "You may not apply for this person.")
        applicant = await session.get_one(Person, actor_id)
        subject = await session.get_one(Person, subject_id)
        offering = await offering_for(session, subject.municipality_code, proc.code)
        has_account = await session.get(PublicBenefitAccount, actor_id) is not None
        form, sources = basic_prefill(proc, applicant, subject, has_account)
        now = utcnow()
        application = Application(
            municipality_code=subject.municipality_code, procedure_code=proc.code,
            form_version=offering.form_version, applicant_person_id=actor_id, subject_person_id=subject_id,
            basis=acting.basis.value, status=DRAFT, form=form, prefill=sources, nonce=secrets.token_bytes(32),
            revision=1, created_at=now, updated_at=now)
        session.add(application)
        await session.flush()
        session.add(ApplicationEvent(application_id=application.id, at=now, from_status=None, to_status=DRAFT,
                                     actor="person"))
        return application


def _section(proc: Procedure, name: str) -> dict[str, Any] | None:
    section = proc.form.get("properties", {}).get(name)
    return section if isinstance(section, dict) and section.get("type") == "object" else None


def _fill(section: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    allowed = section.get("properties", {})
    return {key: value for key, value in values.items() if key in allowed and value is not None}


def basic_prefill(proc: Procedure, applicant: Person, subject: Person,
                  has_account: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """基本4情報 of the applicant and of the child, the household link, and the 公金受取口座 choice."""
    form: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    person = {"name": applicant.name, "nameKana": applicant.name_kana, "birthDate": applicant.birth_date.isoformat(),
              "address": applicant.address, "phone": applicant.phone}
    for name in APPLICANT_SECTIONS:
        section = _section(proc, name)
        if section is not None:
            form[name] = _fill(section, person)
            sources[name] = {"source": "basic4"}
            break
    child = _section(proc, "child")
    if child is not None and subject.id != applicant.id:
        form["child"] = _fill(child, {"name": subject.name, "birthDate": subject.birth_date.isoformat(),
                                      "relationship": "子", "livesWithClaimant": subject.address == applicant.address})
        sources["child"] = {"source": "household"}
    pay_to = _section(proc, "payTo")
    if pay_to is not None:
        form["payTo"] = {"usePublicBenefitAccount": has_account}
        sources["payTo"] = {"source": "public_benefit_account" if has_account else "none"}
    return form, sources


async def editable_application(session: AsyncSession, actor_id: uuid.UUID, application_id: uuid.UUID) -> Application:
    application = await session.get(Application, application_id)
    if application is None or application.applicant_person_id != actor_id:
        raise PortalError("NOT_FOUND", "No such application of yours.")
    if application.status in DECIDED:
        raise PortalError("APPLICATION_ALREADY_DECIDED", "This application has been decided.")
    if application.status == WITHDRAWN:
        raise PortalError("APPLICATION_WITHDRAWN", "This application has been withdrawn.")
    if application.status not in EDITABLE:
        raise PortalError("APPLICATION_NOT_EDITABLE", "This application has been sent and is being handled.")
    return application


def check_form_shape(form: Any) -> dict[str, Any]:
    if not isinstance(form, dict):
        raise PortalError("BAD_USER_INPUT", "The form is a JSON object.", extensions={"field": "form"})
    if len(json.dumps(form, ensure_ascii=False).encode()) > MAX_FORM_BYTES:
        raise PortalError("PAYLOAD_TOO_LARGE", "The form is larger than 64 KiB.", extensions={"field": "form"})
    return form


async def save_draft(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID,
                     application_id: uuid.UUID, form: Any, revision: int) -> Application:
    """Keep what was typed (not yet checked against the schema: a draft may be incomplete)."""
    form = check_form_shape(form)
    async with session_factory() as session, session.begin():
        application = await editable_application(session, actor_id, application_id)
        # A field filled from the network and then changed by hand is no longer the network's.
        sources = {name: source for name, source in application.prefill.items()
                   if source.get("source") != "network" or form.get(name) == source.get("value")}
        saved = (await session.execute(
            update(Application)
            .where(Application.id == application_id, Application.revision == revision,
                   Application.status.in_(EDITABLE))
            .values(form=form, prefill=sources, revision=revision + 1, updated_at=utcnow())
            .returning(Application.id))).first()
        if saved is None:
            raise PortalError("APPLICATION_STALE", "The draft was saved meanwhile (perhaps on another device); "
                              "reload it.", extensions={"revision": application.revision})
    return await my_application(session_factory, actor_id, application_id)


async def my_application(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID,
                         application_id: uuid.UUID) -> Application:
    async with session_factory() as session:
        application = await session.get(Application, application_id)
        if application is None or application.applicant_person_id != actor_id:
            raise PortalError("NOT_FOUND", "No such application of yours.")
        return application


async def my_applications(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID,
                          limit: int = 50) -> list[Application]:
    async with session_factory() as session:
        return list(await session.scalars(
            select(Application).where(Application.applicant_person_id == actor_id)
            .order_by(Application.updated_at.desc(), Application.id).limit(limit)))


@dataclass(frozen=True)
class NetworkPrefill:
    application: Application
    filled: list[str]  # form fields filled
    not_held: list[str]  # items consented to that no provider holds (attach the paper instead)


async def _providers(session: AsyncSession, person_id: uuid.UUID, item: str, requester_id: uuid.UUID) -> list[str]:
    """Which agencies hold this kind for the person: the network's directory (the 中間サーバー knows its copies).
    Only the slug leaves here; the hub does the lawful request and the code mapping."""
    return list(await session.scalars(
        select(Agency.slug).join(ExchangeCopy, ExchangeCopy.provider_agency_id == Agency.id)
        .where(ExchangeCopy.person_id == person_id, ExchangeCopy.item_kind == item, Agency.id != requester_id)
        .distinct().order_by(Agency.slug)))


async def prefill_from_network(session_factory: async_sessionmaker[AsyncSession], hub: Hub, actor_id: uuid.UUID,
                               application_id: uuid.UUID, consented: list[str]) -> NetworkPrefill:
    """Ask the network for the items the person consented to, one by one, as the municipality under the
    procedure's duty (the hub checks the legal table and writes the record), and fill the form with them."""
    async with session_factory() as session:
        application = await editable_application(session, actor_id, application_id)
        proc = procedure(application.procedure_code)
        offered = {item.item: item for item in proc.network_items}
        unknown = [item for item in consented if item not in offered]
        if unknown or not consented:
            raise PortalError("BAD_USER_INPUT", "Consent to items this procedure obtains through the network: "
                              + ", ".join(offered), extensions={"field": "items"})
        agency_id = await municipality_agency_id(session, application.municipality_code)
        providers = {item: await _providers(session, actor_id, item, agency_id) for item in consented}
    async with session_factory() as session, session.begin():
        code = await _code(session, agency_id, actor_id)
    filled: dict[str, tuple[Any, dict[str, Any]]] = {}
    not_held: list[str] = []
    for item in dict.fromkeys(consented):
        value = None
        for slug in providers[item]:
            answer = await hub.request(agency_id, ExchangeRequest(
                person_code=code, duty=proc.duty or "", provider=slug, items=(item,)))
            values = [provided for provided in answer.items if provided.kind == item]
            if values:
                latest = max(values, key=lambda provided: provided.key)
                value = (_form_value(item, latest.value),
                         {"source": "network", "item": item, "provider": slug, "queryId": str(answer.record.query_id),
                          "replaces": offered[item].replaces})
                break
        if value is None:
            not_held.append(item)
        else:
            filled[offered[item].fills] = value
    async with session_factory() as session, session.begin():
        application = await editable_application(session, actor_id, application_id)
        form, sources = dict(application.form), dict(application.prefill)
        for field_name, (field_value, source) in filled.items():
            form[field_name] = field_value
            sources[field_name] = {**source, "value": field_value}
        application.form, application.prefill = form, sources
        application.revision += 1
        application.updated_at = utcnow()
    return NetworkPrefill(application, list(filled), not_held)


def _form_value(item: str, value: dict[str, Any]) -> dict[str, Any]:
    if item == "local_tax":
        return {"taxYear": value["tax_year"], "taxableIncome": value["taxable_income"],
                "dependants": value["dependants"]}
    return dict(value)


async def _code(session: AsyncSession, agency_id: uuid.UUID, person_id: uuid.UUID) -> str:
    return await assign_code(session, agency_id, person_id)
