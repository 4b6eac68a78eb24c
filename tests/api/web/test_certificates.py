"""証明書 pages through the app's routes: ask for a 住民票の写し, its fee as a payment order paid through the
payments pages' form, collect it, download the signed PDF; nobody else can."""

from __future__ import annotations

import re

from sqlalchemy import select

from api.certificates.issuing import CertificateIssuer
from api.certificates.models import CertificateIssuance, IssuanceState
from tests.api.applications.conftest import OneStop
from tests.api.certificates.conftest import issuer, pki_dir, settle  # noqa: F401 - the session's issuer
from tests.api.web.test_applications import signed_in


async def test_a_resident_record_is_requested_paid_collected_and_downloaded(
        one_stop: OneStop, issuer: CertificateIssuer) -> None:  # noqa: F811
    one_stop.identity.portal.app.state.certificate_issuer._issuer = issuer  # the session's: keys loaded once
    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        page = await client.get("/web/certificates")
        assert page.status_code == 200 and "請求した証明書はありません。" in page.text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        form = {"csrf": csrf, "kind": "resident-record", "idempotency_key": key, "relationship": "on"}
        assert (await client.post("/web/certificates/request", data=form)).status_code == 303
        assert (await client.post("/web/certificates/request", data=form)).status_code == 303  # a double submit
        async with one_stop.factory() as session:
            [row] = (await session.scalars(select(CertificateIssuance).where(
                CertificateIssuance.actor_person_id == one_stop.father))).all()
        assert (row.state, row.fee) == (IssuanceState.AWAITING_PAYMENT, 300)
        page = await client.get("/web/certificates")
        assert f'action="/web/payments/orders/{row.payment_order_id}/pay"' in page.text and "300円を支払う" in page.text
        early = await client.post(f"/web/certificates/{row.id}/collect", data={"csrf": csrf})
        assert early.status_code == 409 and "Pay the fee first" in early.text  # CERTIFICATE_NOT_PAID
        await settle(one_stop.factory, row.payment_order_id)  # the gateway's settlement (payments' tests cover it)
        collected = await client.post(f"/web/certificates/{row.id}/collect", data={"csrf": csrf})
        assert (collected.status_code, collected.headers["location"]) == (
            303, f"/web/certificates?collected={row.serial}")
        page = await client.get("/web/certificates")
        assert f'href="/web/certificates/{row.id}/pdf"' in page.text and "発行済み" in page.text
        pdf = await client.get(f"/web/certificates/{row.id}/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        assert pdf.headers["content-disposition"] == f'attachment; filename="resident-record-{row.serial}.pdf"'
    async with signed_in(one_stop, one_stop.mother) as (mother, _):
        assert (await mother.get(f"/web/certificates/{row.id}/pdf")).status_code == 404
