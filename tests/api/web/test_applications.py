"""申請 pages through the app's routes: ぴったり, a 児童手当 draft prefilled from the network with consent, saved,
signed with the card's signature key over the document the server rebuilt, and sent; refusals leave no trace."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import httpx
from sqlalchemy import func, select

from api.applications.attachments import attachments_of
from api.applications.models import Application
from api.exchange.models import ExchangeRecord
from nfc_bridge.jpki import Key
from tests.api.applications.conftest import OneStop
from tests.api.conftest import operation
from tests.api.identity.conftest import PUBLIC_URL, card_sign
from tests.api.web.test_login import _client, _start, _token, session_csrf


@contextlib.asynccontextmanager
async def signed_in(one_stop: OneStop, person: uuid.UUID) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with _client(one_stop.identity) as client:
        csrf, challenge = await _start(client)
        card = await one_stop.card(person)
        done = await client.post("/web/login/card", json=_token(card, PUBLIC_URL, challenge),
                                 headers={"x-csrf-token": csrf})
        assert done.status_code == 200
        yield client, await session_csrf(client)  # signing in made a new form token


def sign_token(document: bytes, card: object, key: Key = Key.SIGN) -> dict:
    encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return {"format": "web-eid-sign:1.0", "algorithm": "RS256",
            "certificate": encode(card.der("sign_cert")),  # type: ignore[attr-defined]
            "certificateChain": [encode(card.der("sign_ca_cert"))],  # type: ignore[attr-defined]
            "signature": encode(card_sign(card, key, document))}  # type: ignore[arg-type]


FILLED = {"claimant.name": "山田 太郎", "claimant.nameKana": "ヤマダ タロウ", "claimant.birthDate": "1985-04-01",
          "claimant.address": "東京都千代田区霞が関二丁目1番2号", "claimant.phone": "",
          "claimant.insurance": "employee",
          "child.name": "山田 一郎", "child.birthDate": "2020-06-01", "child.relationship": "子",
          "child.livesWithClaimant": "on", "payTo.usePublicBenefitAccount": "on"}


async def started(client: httpx.AsyncClient, csrf: str, one_stop: OneStop) -> str:
    listing = await client.get("/web/applications")
    assert listing.status_code == 200
    assert "児童手当 認定請求" in listing.text
    assert f'<option value="{one_stop.child}">山田 一郎</option>' in listing.text
    assert '<a href="/web/applications" aria-current="page">' in listing.text  # the menu's new section
    start = await client.post("/web/applications/start", data={"csrf": csrf, "procedure": "child_allowance_claim",
                                                               "subject": str(one_stop.child)})
    assert start.status_code == 303
    return start.headers["location"]


async def test_a_child_allowance_claim_is_prefilled_with_consent_signed_with_the_card_and_sent(
        one_stop: OneStop) -> None:
    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        where = await started(client, csrf, one_stop)
        application_id = uuid.UUID(where.rsplit("/", 1)[1])
        page = await client.get(where)
        assert page.status_code == 200
        assert 'value="山田 太郎"' in page.text  # 基本4情報 prefilled
        assert '<a href="/web/applications" aria-current="page"><ruby>申請' in page.text  # the menu is intact
        assert "所得（課税）証明書の代わりに取得することに同意する" in page.text and "未取得" in page.text
        # Consent to the network item: Chiyoda asks Yokohama, on the father's record.
        prefilled = await client.post(f"{where}/prefill", data={"csrf": csrf, "consent": "local_tax"})
        assert (prefilled.status_code, prefilled.headers["location"]) == (303, f"{where}?prefilled=1")
        async with one_stop.factory() as session:
            assert await session.scalar(select(func.count()).select_from(ExchangeRecord).where(
                ExchangeRecord.person_id == one_stop.father)) == 1
            revision = (await session.get_one(Application, application_id)).revision
        saved = await client.post(f"{where}/save", data={"csrf": csrf, "revision": str(revision), **FILLED})
        assert saved.status_code == 303
        page = await client.get(where)
        assert 'id="sign-submit"' in page.text and "/web/static/sign.js" in page.text
        prepared = await client.post(f"{where}/to-sign", headers={"x-csrf-token": csrf})
        assert prepared.status_code == 200
        document = base64.b64decode(prepared.json()["document"])
        body = json.loads(document)
        assert (body["procedure"], body["form"]["income"]["taxYear"], body["form"]["claimant"]["insurance"],
                body["form"]["child"]["livesWithClaimant"]) == ("child_allowance_claim", 2025, "employee", True)
        assert "phone" not in body["form"]["claimant"]  # an empty input is left out
        card = await one_stop.card(one_stop.father)
        sent = await client.post(f"{where}/submit", json=sign_token(document, card), headers={"x-csrf-token": csrf})
        assert sent.status_code == 200, sent.text
        async with one_stop.factory() as session:
            application = await session.get_one(Application, application_id)
        assert (application.status, application.signed_document) == ("received", document)
        assert sent.json() == {"next": where, "receptionNumber": application.reception_number}
        page = await client.get(where)
        assert f"受付番号<rt>うけつけばんごう</rt></ruby> {application.reception_number}" in page.text
        assert 'id="sign-submit"' not in page.text  # sent: nothing to sign any more


async def test_a_signature_with_the_wrong_key_a_missing_form_token_or_anothers_draft_is_refused(
        one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    where = f"/web/applications/{draft.id}"
    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        document = base64.b64decode((await client.post(f"{where}/to-sign", headers={"x-csrf-token": csrf}))
                                    .json()["document"])
        card = await one_stop.card(one_stop.father)
        auth_signed = sign_token(document, card, Key.AUTH)  # the authentication key's signature, with the signing cert
        assert (await client.post(f"{where}/submit", json=auth_signed, headers={"x-csrf-token": csrf})
                ).status_code == 401
        forged = await client.post(f"{where}/submit", json=sign_token(document, card))  # no form token
        assert forged.status_code == 403
        not_a_token = await client.post(f"{where}/submit", json={"format": "web-eid:1.0"},
                                        headers={"x-csrf-token": csrf})
        assert not_a_token.status_code == 400
    async with one_stop.factory() as session:
        assert (await session.get_one(Application, draft.id)).status == "draft"
    async with signed_in(one_stop, one_stop.mother) as (mother, mother_csrf):
        assert (await mother.get(where)).status_code == 404
        assert (await mother.post(f"{where}/to-sign", headers={"x-csrf-token": mother_csrf})).status_code == 404


async def test_a_stale_save_is_refused_and_a_wrong_form_cannot_be_signed(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    where = f"/web/applications/{draft.id}"
    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        stale = await client.post(f"{where}/save", data={"csrf": csrf, "revision": str(draft.revision - 1),
                                                          **FILLED})
        assert stale.status_code == 409
        assert "お手続きできませんでした" in stale.text
        not_a_choice = await client.post(f"{where}/save", data={"csrf": csrf, "revision": str(draft.revision),
                                                                 **FILLED, "claimant.insurance": "x"})
        assert not_a_choice.status_code == 303  # a draft may be incomplete or wrong; it cannot be signed so
        page = await client.get(where)
        assert "送信する前に: The form does not match its schema: /claimant/insurance" in page.text
        assert 'id="sign-submit"' not in page.text
        assert (await client.post(f"{where}/to-sign", headers={"x-csrf-token": csrf})).status_code == 400
    async with one_stop.factory() as session:
        assert (await session.get_one(Application, draft.id)).revision == draft.revision + 1  # the stale one: no


PDF = b"%PDF-1.7\n" + b"x" * 100_000  # under the body limit (MYNAPORTAL_MAX_BODY_REST, 256 KiB) web forms get


async def test_an_attachment_is_uploaded_with_the_form_token_and_checked_by_content(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    where = f"/web/applications/{draft.id}"
    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        page = await client.get(where)
        assert 'enctype="multipart/form-data"' in page.text and "請求者名義の振込先口座が確認できるもの" in page.text
        files = {"file": ("通帳.pdf", PDF, "application/pdf")}
        forged = await client.post(f"{where}/attach", data={"requirement": "bank_account_proof"}, files=files)
        assert forged.status_code == 403  # no form token
        done = await client.post(f"{where}/attach", data={"csrf": csrf, "requirement": "bank_account_proof"},
                                 files=files)
        assert (done.status_code, done.headers["location"]) == (303, f"{where}?attached=1")
        assert f"添付済み: 通帳.pdf ({len(PDF):,} バイト)" in (await client.get(where)).text
        fake = await client.post(f"{where}/attach", data={"csrf": csrf, "requirement": "bank_account_proof"},
                                 files={"file": ("x.pdf", b"MZ not a pdf", "application/pdf")})
        assert fake.status_code == 415  # checked by content, not by the declared type
    async with one_stop.factory() as session:
        assert [a.filename for a in await attachments_of(session, draft.id)] == ["通帳.pdf"]


LIMIT = 5 * 1024 * 1024  # MYNAPORTAL_MAX_ATTACHMENT_BYTES' default


async def test_one_attachment_limit_with_one_code_on_the_web_form_and_graphql(one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    where = f"/web/applications/{draft.id}"
    largest = b"%PDF-1.7\n" + b"x" * (LIMIT - 9)
    portal = one_stop.identity.portal

    async def by_graphql(content: bytes) -> dict:
        return await portal.query(operation("AttachToApplication"), {
            "id": str(draft.id), "requirement": "bank_account_proof", "filename": "通帳.pdf",
            "mediaType": "application/pdf", "content": base64.b64encode(content).decode()}, token=portal.father_token)

    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        async def by_form(content: bytes) -> httpx.Response:
            return await client.post(f"{where}/attach", data={"csrf": csrf, "requirement": "bank_account_proof"},
                                     files={"file": ("通帳.pdf", content, "application/pdf")})

        form_over = await by_form(largest + b"x")
        graphql_over = await by_graphql(largest + b"x")
        assert (form_over.status_code, "The file is larger than 5242880 bytes." in form_over.text,
                'data-code="ATTACHMENT_TOO_LARGE"' in form_over.text) == (413, True, True)
        assert graphql_over["errors"][0]["extensions"] == {"code": "ATTACHMENT_TOO_LARGE", "maxBytes": LIMIT}
        async with one_stop.factory() as session:
            assert await attachments_of(session, draft.id) == []  # refused: nothing kept
        assert (await by_form(largest)).status_code == 303
        attached = await by_graphql(largest)
        assert (attached.get("errors"), attached["data"]["attachToApplication"]["size"]) == (None, LIMIT)
    async with one_stop.factory() as session:
        assert [a.size for a in await attachments_of(session, draft.id)] == [LIMIT]  # the second replaced the first


async def test_a_sent_application_is_withdrawn_from_its_page_and_a_decided_one_offers_nothing(
        one_stop: OneStop) -> None:
    draft = await one_stop.ready_draft()
    sent = await one_stop.submit(one_stop.father, draft.id, await one_stop.signed(
        await one_stop.card(one_stop.father), one_stop.father, draft.id))
    where = f"/web/applications/{sent.id}"
    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        page = await client.get(where)
        assert 'action="/web/applications/' + str(sent.id) + '/withdraw"' in page.text
        assert (await client.post(f"{where}/withdraw", data={"reason": "x"})).status_code == 403  # no form token
        done = await client.post(f"{where}/withdraw", data={"csrf": csrf, "reason": "転出のため"})
        assert (done.status_code, done.headers["location"]) == (303, f"{where}?withdrawn=1")
        page = await client.get(f"{where}?withdrawn=1")
        assert "申請を取り下げました。" in page.text and "<strong>取下げ</strong>" in page.text
        assert "/withdraw" not in page.text
        again = await client.post(f"{where}/withdraw", data={"csrf": csrf})
        assert again.status_code == 409
    async with one_stop.factory() as session:
        assert (await session.get_one(Application, sent.id)).status == "withdrawn"
    async with signed_in(one_stop, one_stop.mother) as (mother, mother_csrf):
        assert (await mother.post(f"{where}/withdraw", data={"csrf": mother_csrf})).status_code == 404
