"""Signed submission: the 児童手当 example end to end in the domain (network prefill, card signature, receipt
notice), and every refused path with its stable code and no side effect."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from sqlalchemy import delete, event, func, select, update

from api.agencies.models import AgencyPersonCode
from api.agencies.service import assign_code
from api.applications import drafts, submission
from api.applications.canonical import canonical_json
from api.applications.models import Application, ApplicationEvent, ProcedureOffering
from api.demo import DEMO_TAX, _number
from api.exchange.models import ExchangeRecord
from api.identity.cards import revoke_card
from api.notices.models import Notice, NoticeRecipient
from api.people.models import Sex
from api.people.service import NewPerson, register_person
from api.platform.errors import PortalError
from tests.api.applications.conftest import TODAY, OneStop


async def count(one_stop: OneStop, model: type, *where: object) -> int:
    async with one_stop.factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_child_allowance_example_prefills_income_from_the_network_and_takes_the_cards_signature(
        one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    assert draft.form["claimant"] == {"name": "山田 太郎", "nameKana": "ヤマダ タロウ", "birthDate": "1985-04-01",
                                      "address": "東京都千代田区霞が関二丁目1番2号", "phone": "090-0000-0001"}
    assert draft.form["child"] == {"name": "山田 一郎", "birthDate": "2019-06-10", "relationship": "子",
                                   "livesWithClaimant": True}
    assert (draft.status, draft.basis, draft.municipality_code) == ("draft", "parent", "131016")

    filled = await drafts.prefill_from_network(one_stop.factory, one_stop.hub, one_stop.father, draft.id,
                                               ["local_tax"])
    assert (filled.filled, filled.not_held) == (["income"], [])
    tax = DEMO_TAX[0]
    assert filled.application.form["income"] == {"taxYear": tax["tax_year"], "taxableIncome": tax["taxable_income"],
                                                 "dependants": tax["dependants"]}
    source = filled.application.prefill["income"]
    assert (source["source"], source["provider"], source["replaces"]) == ("network", "yokohama-city",
                                                                            "所得（課税）証明書")
    # The read is an exchange on the father's record: Chiyoda asked Yokohama under 児童手当 (別表第二 74).
    async with one_stop.factory() as session:
        record = await session.scalar(select(ExchangeRecord).where(ExchangeRecord.person_id == one_stop.father))
    assert record is not None
    assert (record.duty, record.item_names, record.legal_row_id, record.outcome, str(record.query_id)) == (
        "child_allowance", ["local_tax"], "beppyo2:74:1", "provided", source["queryId"])

    card = await one_stop.card(one_stop.father)
    to_sign = await submission.to_sign(one_stop.factory, one_stop.father, draft.id)
    document = json.loads(to_sign.document)
    assert to_sign.document == canonical_json(document)
    assert to_sign.digest == hashlib.sha256(to_sign.document).digest()
    assert (document["procedure"], document["formVersion"], document["municipality"], document["attachments"]) == (
        "child_allowance_claim", 1, "131016", [])
    assert document["applicant"] == {"name": "山田 太郎", "birthDate": "1985-04-01", "sex": "1",
                                     "address": "東京都千代田区霞が関二丁目1番2号"}
    assert document["subject"]["name"] == "山田 一郎"
    material = await one_stop.signed(card, one_stop.father, draft.id)
    sent = await one_stop.submit(one_stop.father, draft.id, material)
    assert sent.status == "received"
    assert sent.reception_number is not None and sent.submitted_at is not None
    assert sent.reception_number[:12] == f"131016{sent.submitted_at:%y%m%d}" and len(sent.reception_number) == 22
    assert (sent.signed_document, sent.signature, sent.certificate) == (
        to_sign.document, material["signature"], material["certificate"])
    assert sent.certificate_chain == [base64.b64encode(material["chain"][0]).decode()]
    assert sent.nonce != draft.nonce  # the next signature needs a new nonce
    # The parent gets the receipt notice from Chiyoda.
    async with one_stop.factory() as session:
        title = await session.scalar(select(Notice.title).join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
                                     .where(NoticeRecipient.person_id == one_stop.father))
    assert title == "申請を受け付けました（児童手当 認定請求）"
    assert await count(one_stop, ApplicationEvent, ApplicationEvent.application_id == draft.id) == 2


async def refused(code: str, coroutine: object) -> PortalError:
    with pytest.raises(PortalError) as caught:
        await coroutine  # type: ignore[misc]
    assert caught.value.code == code, caught.value.message
    return caught.value


async def test_a_signature_by_another_card_is_refused(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    mothers = await one_stop.card(one_stop.mother)
    # The mother's card signs the father's application: the signature verifies, but names someone else.
    await refused("SIGNER_NOT_APPLICANT", one_stop.submit(one_stop.father, draft.id,
                                                          await one_stop.signed(mothers, one_stop.father, draft.id)))
    assert (await drafts.my_application(one_stop.factory, one_stop.father, draft.id)).status == "draft"
    assert await count(one_stop, Notice) == 0


async def test_a_signature_over_other_bytes_or_a_stale_nonce_is_refused(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    card = await one_stop.card(one_stop.father)
    material = await one_stop.signed(card, one_stop.father, draft.id)
    form = dict(draft.form)
    form["claimant"] = {**form["claimant"], "phone": "090-9999-9999"}  # changed after signing
    await drafts.save_draft(one_stop.factory, one_stop.father, draft.id, form, draft.revision)
    await refused("SIGNATURE_INVALID", one_stop.submit(one_stop.father, draft.id, material))
    # The auth key's signature over the right bytes does not do either: its certificate is not for signing.
    to_sign = await submission.to_sign(one_stop.factory, one_stop.father, draft.id)
    from nfc_bridge.jpki import Key
    from tests.api.identity.conftest import card_sign
    await refused("CERTIFICATE_USAGE_INVALID", one_stop.submit(one_stop.father, draft.id, {
        "certificate": card.der("auth_cert"), "chain": [card.der("auth_ca_cert")],
        "signature": card_sign(card, Key.AUTH, to_sign.document)}))


async def test_a_revoked_certificate_is_refused(one_stop: OneStop) -> None:
    card = await one_stop.card(one_stop.father)
    earlier = await one_stop.ready_draft()  # the card signed before: its checked path is kept, its status never
    await one_stop.submit(one_stop.father, earlier.id, await one_stop.signed(card, one_stop.father, earlier.id))
    draft = await one_stop.ready_draft()
    material = await one_stop.signed(card, one_stop.father, draft.id)
    async with one_stop.factory() as session, session.begin():
        assert await revoke_card(session, one_stop.father, now=one_stop.identity.now) == 2
    await refused("CERTIFICATE_REVOKED", one_stop.submit(one_stop.father, draft.id, material))
    assert (await drafts.my_application(one_stop.factory, one_stop.father, draft.id)).status == "draft"


async def test_applying_for_someone_elses_child_is_refused(one_stop: OneStop) -> None:
    async with one_stop.factory() as session, session.begin():
        stranger = await register_person(session, one_stop.identity.cipher, NewPerson(
            "佐藤 次郎", "サトウ ジロウ", TODAY.replace(year=1980), Sex.MALE, "東京都千代田区一番町1", "131016",
            _number("10000000009")))
    await refused("NOT_AUTHORIZED_FOR_PERSON", drafts.start_draft(
        one_stop.factory, stranger.id, "child_allowance_claim", one_stop.child, today=TODAY))
    assert await count(one_stop, Application) == 0


async def test_a_childs_procedure_needs_the_child_and_a_persons_own_needs_none(one_stop: OneStop) -> None:
    await refused("APPLICATION_SUBJECT_INVALID", drafts.start_draft(
        one_stop.factory, one_stop.father, "child_allowance_claim", None, today=TODAY))
    await refused("APPLICATION_SUBJECT_INVALID", drafts.start_draft(
        one_stop.factory, one_stop.mother, "pregnancy_notification", one_stop.child, today=TODAY))
    await refused("PROCEDURE_UNKNOWN", drafts.start_draft(
        one_stop.factory, one_stop.mother, "no_such_thing", None, today=TODAY))


async def test_resubmitting_a_sent_or_decided_application_is_refused(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    card = await one_stop.card(one_stop.father)
    material = await one_stop.signed(card, one_stop.father, draft.id)
    await one_stop.submit(one_stop.father, draft.id, material)
    await refused("APPLICATION_ALREADY_SUBMITTED", one_stop.submit(one_stop.father, draft.id, material))
    async with one_stop.factory() as session, session.begin():
        await session.execute(update(Application).where(Application.id == draft.id).values(status="completed"))
    await refused("APPLICATION_ALREADY_DECIDED", one_stop.submit(one_stop.father, draft.id, material))
    await refused("APPLICATION_ALREADY_DECIDED", submission.to_sign(one_stop.factory, one_stop.father, draft.id))
    await refused("APPLICATION_ALREADY_DECIDED", drafts.save_draft(one_stop.factory, one_stop.father, draft.id,
                                                                   draft.form, draft.revision + 1))


async def test_a_form_of_another_schema_version_or_not_matching_its_schema_is_refused(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    card = await one_stop.card(one_stop.father)
    material = await one_stop.signed(card, one_stop.father, draft.id)
    await refused("FORM_VERSION_MISMATCH", one_stop.submit(one_stop.father, draft.id, material, form_version=2))
    async with one_stop.factory() as session, session.begin():  # Chiyoda moved to a newer form meanwhile
        await session.execute(update(ProcedureOffering).values(form_version=2))
    error = await refused("FORM_VERSION_MISMATCH", one_stop.submit(one_stop.father, draft.id, material))
    assert error.extensions == {"formVersion": 2}
    async with one_stop.factory() as session, session.begin():
        await session.execute(update(ProcedureOffering).values(form_version=1))
    form = dict(draft.form)
    form["child"] = {**form["child"], "birthDate": "2019-02-30"}
    form["extra"] = 1
    saved = await drafts.save_draft(one_stop.factory, one_stop.father, draft.id, form, draft.revision)
    error = await refused("FORM_INVALID", submission.to_sign(one_stop.factory, one_stop.father, saved.id))
    assert error.extensions["errors"] == [
        {"path": "/", "message": "Additional properties are not allowed ('extra' was unexpected)"},
        {"path": "/child/birthDate", "message": "'2019-02-30' is not a 'date'"}]


async def test_a_stale_save_from_another_device_is_refused(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    await drafts.save_draft(one_stop.factory, one_stop.father, draft.id, draft.form, draft.revision)
    error = await refused("APPLICATION_STALE", drafts.save_draft(one_stop.factory, one_stop.father, draft.id,
                                                                 {"claimant": {}}, draft.revision))
    assert error.extensions == {"revision": draft.revision + 1}
    assert (await drafts.my_application(one_stop.factory, one_stop.father, draft.id)).form == draft.form
    # Someone else cannot read or save it at all.
    await refused("NOT_FOUND", drafts.save_draft(one_stop.factory, one_stop.mother, draft.id, {}, 3))


async def test_network_prefill_needs_consent_to_the_procedures_items(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    await refused("BAD_USER_INPUT", drafts.prefill_from_network(one_stop.factory, one_stop.hub, one_stop.father,
                                                                draft.id, []))
    await refused("BAD_USER_INPUT", drafts.prefill_from_network(one_stop.factory, one_stop.hub, one_stop.father,
                                                                draft.id, ["pension_benefit"]))
    assert await count(one_stop, ExchangeRecord) == 0
    # The child has no tax copy anywhere: nothing asked, the item is reported not held.


async def _statements_of_a_submission(one_stop: OneStop) -> list[str]:
    draft = await one_stop.ready_draft()
    material = await one_stop.signed(await one_stop.card(one_stop.father), one_stop.father, draft.id)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        words = statement.split()
        if words[0] in ("SELECT", "UPDATE", "INSERT"):
            table = {"SELECT": words[words.index("FROM") + 1] if "FROM" in words else words[1].split("(")[0],
                     "UPDATE": words[1], "INSERT": words[2]}[words[0]]
            statements.append(f"{words[0]} {table}")
        else:
            statements.append(words[0])

    engine = one_stop.identity.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        sent = await one_stop.submit(one_stop.father, draft.id, material)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert sent.status == "received" and sent.reception_number is not None
    return statements


async def test_a_submission_is_one_transaction_of_a_fixed_small_number_of_statements(one_stop: OneStop) -> None:
    async with one_stop.factory() as session, session.begin():  # the municipality knows the father already
        await assign_code(session, one_stop.chiyoda_id, one_stop.father)
    statements = await _statements_of_a_submission(one_stop)
    postgres = one_stop.identity.engine.dialect.name == "postgresql"
    # One transaction (SQLite shows its BEGIN IMMEDIATE; psycopg begins implicitly): the application with its
    # applicant, subject, offering, agency and code for the applicant; its attachments; this server's revocations
    # of the certificate; the parent check and its access record; the conditional move (nothing read again); the
    # history entry; the receipt notice by the lean path: the notice, its recipient, every delivery job in one
    # INSERT, and (PostgreSQL) the announcement.
    assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == [
        "SELECT applications", "SELECT application_attachments", "SELECT issued_certificates", "SELECT persons",
        "INSERT access_records", "UPDATE applications", "INSERT application_events", "INSERT notices",
        "INSERT notice_recipients", "INSERT notice_deliveries", *(["SELECT pg_notify"] if postgres else [])]
    assert statements.count("BEGIN") == (0 if postgres else 1)


async def test_the_first_submission_gives_the_applicant_the_municipalitys_code(one_stop: OneStop) -> None:
    async with one_stop.factory() as session, session.begin():  # the demo gave one: a person new to Chiyoda
        await session.execute(delete(AgencyPersonCode).where(AgencyPersonCode.agency_id == one_stop.chiyoda_id,
                                                             AgencyPersonCode.person_id == one_stop.father))
    statements = await _statements_of_a_submission(one_stop)
    assert statements.count("INSERT agency_person_codes") == 1
    async with one_stop.factory() as session:
        assert await session.scalar(select(func.count()).select_from(AgencyPersonCode).where(
            AgencyPersonCode.agency_id == one_stop.chiyoda_id, AgencyPersonCode.person_id == one_stop.father)) == 1
