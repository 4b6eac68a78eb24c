from __future__ import annotations

import uuid

from sqlalchemy import select

from api.certificates.models import CertificateIssuance, IssuanceState, KioskSession
from api.platform.access_records import access_records_for
from tests.api.certificates.conftest import KioskPortal, add_kiosk
from tests.api.certificates.test_service import pdf_text


async def _ask(kp: KioskPortal, session_id: str, key: str = "req-1", **body: object) -> dict:
    response = await kp.client.post(f"/kiosk/v1/sessions/{session_id}/certificates", headers=kp.headers(
        **{"idempotency-key": key}), json={"certificate": "resident-record", "receipt": "R-1", **body})
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_father_prints_his_resident_record_at_a_kiosk(kiosk_portal: KioskPortal) -> None:
    kp = kiosk_portal
    card = await kp.identity.card_for(kp.identity.portal.father)
    opened = await kp.insert_card(card)
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["session_id"]
    asked = await _ask(kp, session_id)
    assert (asked["state"], asked["fee"], asked["pages"]) == ("issued", 300, 1)
    assert (await _ask(kp, session_id))["id"] == asked["id"]  # a retried request: the same document
    base = f"/kiosk/v1/sessions/{session_id}/certificates/{asked['id']}"
    taken = await kp.client.post(f"{base}/document", headers=kp.headers())
    assert taken.status_code == 200 and taken.headers["content-type"] == "application/pdf"
    text = pdf_text(taken.content)
    assert "山田太郎" in text and "住民票の写し" in text
    again = await kp.client.post(f"{base}/document", headers=kp.headers())
    assert (again.status_code, again.json()["code"]) == (409, "DOCUMENT_ALREADY_HANDED")
    printed = await kp.client.post(f"{base}/print-result", headers=kp.headers(), json={"printed": True})
    assert printed.json() == {"state": "printed"}
    sf = kp.identity.portal.app.state.session_factory
    async with sf() as session:
        row = await session.get_one(CertificateIssuance, uuid.UUID(asked["id"]))
        records = await access_records_for(session, kp.identity.portal.father)
    assert row.document is None and row.document_sha256 is not None  # the server keeps no copy once handed
    assert [r.purpose for r in records] == ["certificate:resident-record:kiosk:self:サンプルマート 千代田K0001店"]
    verified = await kp.client.get(f"/certificates/v1/verify/{row.public_id}")
    assert verified.json()["status"] == "valid" and verified.json()["issuer"] == "千代田区長"
    ended = await kp.client.delete(f"/kiosk/v1/sessions/{session_id}", headers=kp.headers())
    assert ended.status_code == 204
    late = await kp.client.post(f"/kiosk/v1/sessions/{session_id}/certificates", headers=kp.headers(
        **{"idempotency-key": "req-2"}), json={"certificate": "resident-record", "receipt": "R-2"})
    assert (late.status_code, late.json()["code"]) == (410, "KIOSK_SESSION_ENDED")


async def test_another_kiosk_gets_nothing_and_card_removal_voids(kiosk_portal: KioskPortal) -> None:
    kp = kiosk_portal
    sf = kp.identity.portal.app.state.session_factory
    _, other_key = await add_kiosk(sf, "K0002")
    card = await kp.identity.card_for(kp.identity.portal.father)
    session_id = (await kp.insert_card(card)).json()["session_id"]
    asked = await _ask(kp, session_id)
    base = f"/kiosk/v1/sessions/{session_id}/certificates/{asked['id']}"
    stolen = await kp.client.post(f"{base}/document", headers=kp.headers(other_key))
    assert (stolen.status_code, stolen.json()["code"]) == (404, "NOT_FOUND")
    unauthenticated = await kp.client.post(f"{base}/document", headers=kp.headers("kiosk_nope"))
    assert unauthenticated.status_code == 401
    await kp.client.delete(f"/kiosk/v1/sessions/{session_id}", headers=kp.headers())
    async with sf() as session:
        row = await session.get_one(CertificateIssuance, uuid.UUID(asked["id"]))
        kiosk_session = await session.scalar(select(KioskSession))
    assert (row.state, row.document, row.void_reason) == (IssuanceState.VOID, None,
                                                          "kiosk session ended: card removed")
    assert kiosk_session is not None and kiosk_session.ended_at is not None
    gone = await kp.client.post(f"{base}/document", headers=kp.headers())
    assert (gone.status_code, gone.json()["code"]) == (410, "KIOSK_SESSION_ENDED")


async def test_a_failed_print_voids_and_is_reissued_without_a_second_fee(kiosk_portal: KioskPortal) -> None:
    kp = kiosk_portal
    card = await kp.identity.card_for(kp.identity.portal.father)
    session_id = (await kp.insert_card(card)).json()["session_id"]
    first = await _ask(kp, session_id)
    base = f"/kiosk/v1/sessions/{session_id}/certificates/{first['id']}"
    await kp.client.post(f"{base}/document", headers=kp.headers())
    failed = await kp.client.post(f"{base}/print-result", headers=kp.headers(), json={"printed": False})
    assert failed.json() == {"state": "void"}
    verified = (await kp.client.get(f"/certificates/v1/verify/{await _public_id(kp, first['id'])}")).json()
    assert (verified["status"], verified["revocation_reason"]) == ("revoked", "print failed")
    second = await _ask(kp, session_id, key="req-2", replaces=first["id"])
    assert second["fee"] == 0 and second["id"] != first["id"]


async def _public_id(kp: KioskPortal, issuance_id: str) -> str:
    async with kp.identity.portal.app.state.session_factory() as session:
        return (await session.get_one(CertificateIssuance, uuid.UUID(issuance_id))).public_id
