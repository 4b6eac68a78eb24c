from __future__ import annotations

import subprocess
from datetime import date

import pytest
from sqlalchemy import select

from api.certificates import content, service
from api.certificates.issuing import CertificateIssuer
from api.certificates.models import CertificateIssuance, CertificateKind, Channel, IssuanceState
from api.people.individual_number import IndividualNumberCipher
from api.platform.access_records import access_records_for
from api.platform.errors import PortalError
from payments.models import PaymentOrder
from tests.api.certificates.conftest import Family, settle

TODAY = date(2026, 12, 5)


def pdf_text(pdf: bytes) -> str:
    """The text poppler reads out of the PDF, without any white space (its layout spacing varies)."""
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return "".join(out.split())


def _request(subject, kind=CertificateKind.RESIDENT_RECORD, key="k1", **options) -> service.CertificateRequest:
    return service.CertificateRequest(subject, kind, content.Options(**options), Channel.APP, key)


async def test_the_father_obtains_his_resident_record_in_the_app(family: Family, issuer: CertificateIssuer,
                                                                 cipher: IndividualNumberCipher) -> None:
    row = await service.request_certificate(family.sf, issuer, family.father, _request(family.father), today=TODAY)
    assert (row.state, row.fee, row.municipality_code, row.acting_basis) == (
        IssuanceState.AWAITING_PAYMENT, 300, "131016", "self")
    async with family.sf() as session:
        order = await session.get_one(PaymentOrder, row.payment_order_id)
    assert (order.amount, order.purpose) == (300, "住民票の写し 交付手数料")
    with pytest.raises(PortalError) as unpaid:
        await service.collect(family.sf, issuer, family.father, row.id, cipher=cipher, today=TODAY)
    assert unpaid.value.code == "CERTIFICATE_NOT_PAID"
    await settle(family.sf, row.payment_order_id)
    issued = await service.collect(family.sf, issuer, family.father, row.id, cipher=cipher, today=TODAY)
    assert issued.state == IssuanceState.ISSUED and issued.notice_id is not None
    _, pdf = await service.document_for(family.sf, issuer, family.father, row.id, cipher=cipher)
    text = pdf_text(pdf)
    assert "住民票の写し" in text and "山田太郎" in text and "山田花子" not in text
    assert "この写しは、住民票の原本と相違ないことを証明する。" in text and "千代田区長" in text and "花村誠" in text
    assert "本籍" not in text and "個人番号" not in text
    async with family.sf() as session:
        records = await access_records_for(session, family.father)
    assert [(r.actor_operator, r.purpose) for r in records] == [
        ("千代田区長（証明書交付）", "certificate:resident-record:app:self:app")]
    verification = await service.verify(family.sf, issued.public_id)
    assert verification is not None and (verification.title, verification.issuer, verification.valid) == (
        "住民票の写し", "千代田区長", True)


async def test_household_with_honseki_and_a_replayed_request(family: Family, issuer: CertificateIssuer,
                                                             cipher: IndividualNumberCipher) -> None:
    new = _request(family.father, household=True, honseki=True)
    first = await service.request_certificate(family.sf, issuer, family.father, new, today=TODAY)
    again = await service.request_certificate(family.sf, issuer, family.father, new, today=TODAY)
    assert again.id == first.id
    await settle(family.sf, first.payment_order_id)
    await service.collect(family.sf, issuer, family.father, first.id, cipher=cipher, today=TODAY)
    _, pdf = await service.document_for(family.sf, issuer, family.father, first.id, cipher=cipher)
    text = pdf_text(pdf)
    for expected in ("山田太郎", "山田花子", "山田一郎", "世帯全員の住民票の原本", "神奈川県横浜市中区日本大通1番地"):
        assert expected in text
    with pytest.raises(PortalError) as reused:
        await service.request_certificate(family.sf, issuer, family.father, _request(family.father), today=TODAY)
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"


async def test_individual_number_is_drawn_on_demand_and_never_stored(family: Family, issuer: CertificateIssuer,
                                                                     cipher: IndividualNumberCipher) -> None:
    row = await service.request_certificate(family.sf, issuer, family.father,
                                            _request(family.father, individual_number=True), today=TODAY)
    await settle(family.sf, row.payment_order_id)
    await service.collect(family.sf, issuer, family.father, row.id, cipher=cipher, today=TODAY)
    async with family.sf() as session:
        stored = await session.get_one(CertificateIssuance, row.id)
    assert (stored.document, stored.document_sha256) == (None, None)
    _, pdf = await service.document_for(family.sf, issuer, family.father, row.id, cipher=cipher)
    text = pdf_text(pdf)
    assert "個人番号" in text and "100000000013" in text  # the demo father's (api.demo)
    with pytest.raises(PortalError) as proxy:
        await service.request_certificate(family.sf, issuer, family.mother,
                                          _request(family.father, key="m", individual_number=True), today=TODAY)
    assert proxy.value.code == "BAD_USER_INPUT"


async def test_parent_for_a_minor_and_a_stranger_refused(family: Family, issuer: CertificateIssuer) -> None:
    row = await service.request_certificate(family.sf, issuer, family.mother, _request(family.child), today=TODAY)
    assert row.acting_basis == "parent"
    with pytest.raises(PortalError) as refused:
        await service.request_certificate(family.sf, issuer, family.child, _request(family.father, key="x"),
                                          today=TODAY)
    assert refused.value.code == "NOT_AUTHORIZED_FOR_PERSON"
    async with family.sf() as session:
        keys = list(await session.scalars(select(CertificateIssuance.request_key)))
    assert keys == ["k1"]  # the refusal left nothing behind
