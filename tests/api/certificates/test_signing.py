"""The signed certificates checked as the outside world checks them: pyHanko's validator, poppler (pdfsig with an
NSS database holding the sandbox root, pdffonts, pdfinfo, pdftoppm) and zbarimg."""

from __future__ import annotations

import hashlib
import io
import subprocess
from datetime import date
from pathlib import Path

import pytest
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext

from api.certificates import content, service
from api.certificates.documents import Block, CertificateText, Entry
from api.certificates.issuing import CertificateIssuer
from api.certificates.models import CertificateKind, Channel
from api.certificates.rendering import GlyphMissing
from api.people.individual_number import IndividualNumberCipher
from tests.api.certificates.conftest import Family, KioskPortal, settle

TODAY = date(2026, 12, 5)


@pytest.fixture
async def signed(family: Family, issuer: CertificateIssuer, cipher: IndividualNumberCipher) -> tuple[bytes, str]:
    """The demo father's 住民票 (the whole household, 本籍 shown), as the app delivers it; and its QR's URL."""
    row = await service.request_certificate(family.sf, issuer, family.father, service.CertificateRequest(
        family.father, CertificateKind.RESIDENT_RECORD, content.Options(household=True, honseki=True), Channel.APP,
        "outside"), today=TODAY)
    await settle(family.sf, row.payment_order_id)
    await service.collect(family.sf, issuer, family.father, row.id, cipher=cipher, today=TODAY)
    _, pdf = await service.document_for(family.sf, issuer, family.father, row.id, cipher=cipher)
    return pdf, issuer.verification_url(row.public_id)


def _context(issuer: CertificateIssuer) -> ValidationContext:
    assert issuer.signer is not None
    root = asn1_x509.Certificate.load(issuer.signer.pki.root.public_bytes(serialization.Encoding.DER))
    return ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")


async def test_pyhanko_validates_the_signature_and_the_document_timestamp(signed: tuple[bytes, str],
                                                                          issuer: CertificateIssuer) -> None:
    reader = PdfFileReader(io.BytesIO(signed[0]))
    signature, stamp = reader.embedded_signatures
    status = await async_validate_pdf_signature(signature, _context(issuer), skip_diff=False)
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.signing_cert.subject.native["common_name"] == "千代田区長 (131016)"
    assert status.coverage.name in ("ENTIRE_REVISION",)
    stamped = await async_validate_pdf_timestamp(stamp, _context(issuer))
    assert (stamped.intact, stamped.valid, stamped.trusted) == (True, True, True)
    assert stamped.coverage.name == "ENTIRE_FILE"
    # PDF/A: the catalogue's output intent and the XMP's declaration.
    intents = reader.root["/OutputIntents"]
    assert intents[0]["/S"] == "/GTS_PDFA1" and intents[0]["/DestOutputProfile"].get_object()["/N"] == 3
    xmp = reader.root["/Metadata"].get_object().data.decode()
    assert 'pdfaid:part="2"' in xmp and 'pdfaid:conformance="B"' in xmp


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, check=True, text=True).stdout


async def test_poppler_and_zbar_check_it(signed: tuple[bytes, str], issuer: CertificateIssuer, tmp_path: Path) -> None:
    assert issuer.signer is not None
    _check_with_poppler_and_zbar(*signed, issuer.signer.pki.root.public_bytes(serialization.Encoding.PEM), tmp_path)


def _check_with_poppler_and_zbar(pdf: bytes, url: str, root_pem: bytes, tmp_path: Path) -> None:
    path = tmp_path / "juminhyo.pdf"
    path.write_bytes(pdf)
    nss = tmp_path / "nss"
    nss.mkdir()
    (tmp_path / "root.pem").write_bytes(root_pem)
    _run("certutil", "-N", "-d", f"sql:{nss}", "--empty-password")
    _run("certutil", "-A", "-d", f"sql:{nss}", "-n", "sandbox-municipal-root", "-t", "CT,C,C", "-i",
         str(tmp_path / "root.pem"))
    # poppler 22.12's -no-ocsp answers "Unknown issue" for every certificate (even openssl-made ones); without it
    # no OCSP is attempted either: the sandbox certificates name no responder.
    checked = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True).stdout
    first = checked.split("Signature #2")[0]
    assert "Signature Validation: Signature is Valid." in first and "Certificate is Trusted." in first
    assert "Signature Type: ETSI.CAdES.detached" in first
    assert "Signature Type: ETSI.RFC3161" in checked or "Timestamp" in checked.split("Signature #2")[1]
    fonts = _run("pdffonts", str(path)).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # the "emb" column
    assert {line.split()[0].split("+")[1] for line in fonts} == {"IPAexMincho"}
    assert "pdfaid:part" in _run("pdfinfo", "-meta", str(path))
    _run("pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page"))
    [png] = list(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 20_000
    assert _run("zbarimg", "--quiet", "--raw", str(png)).strip() == url


async def test_the_tsa_answers_rfc3161_over_http(kiosk_portal: KioskPortal, issuer: CertificateIssuer) -> None:
    digest = hashlib.sha256(b"a document").digest()
    _, query = TimeStamper(include_nonce=True).request_cms(digest, "sha256")
    answer = await kiosk_portal.client.post("/certificates/v1/tsa", content=query.dump(),
                                            headers={"content-type": "application/timestamp-query"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/timestamp-reply"
    reply = tsp.TimeStampResp.load(answer.content)
    assert reply["status"]["status"].native == "granted"
    token = reply["time_stamp_token"]
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == query["nonce"].native
    tsa_root = (await kiosk_portal.client.get("/certificates/v1/trust/root.pem")).content
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(_der(tsa_root))], allow_fetching=False)
    status = await validate_tst_signed_data(token["content"], context, lambda _: digest)
    assert status["intact"] is True and status["valid"] is True and status["trust_problem_indic"] is None
    refused = await kiosk_portal.client.post("/certificates/v1/tsa", content=b"\x30\x03junk",
                                             headers={"content-type": "application/timestamp-query"})
    assert (refused.status_code, refused.json()["code"]) == (400, "BAD_USER_INPUT")


def _der(pem: bytes) -> bytes:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _text(name: str) -> CertificateText:
    return CertificateText("住民票の写し", "千代田区", (Block(f"1．{name}", (Entry("氏名", name),)),),
                           "この写しは、住民票の原本と相違ないことを証明する。", "千代田区長　花村 誠", TODAY, "2026-1",
                           "http://portal.test/certificates/v1/verify/x")


def test_names_outside_jis_x_0208_use_ipamj_and_a_missing_glyph_fails(issuer: CertificateIssuer) -> None:
    rendered = issuer.renderer.render(_text("𠮷田 花子"))
    assert rendered.fonts == ("IPAexMincho", "IPAmjMincho")
    with pytest.raises(GlyphMissing) as missing:
        issuer.renderer.render(_text("山田 \U000f0000"))
    assert missing.value.code == "GLYPH_MISSING" and "U+F0000" in missing.value.message


async def test_the_signature_cms_is_der_with_the_pades_attributes_only(signed: tuple[bytes, str],
                                                                       issuer: CertificateIssuer) -> None:
    assert issuer.signer is not None
    reader = PdfFileReader(io.BytesIO(signed[0]))
    [signature] = reader.embedded_regular_signatures
    attributes = signature.signer_info["signed_attrs"]
    # No signing-time attribute: PAdES keeps the time in the signature dictionary (/M).
    assert sorted(a["type"].native for a in attributes) == ["cms_algorithm_protection", "content_type",
                                                              "message_digest", "signing_certificate_v2"]
    signed_data = signature.signed_data
    assert signed_data.dump() == signed_data.dump(force=True)  # DER as asn1crypto itself would encode it
    assert signed_data["version"].native == "v1" and signature.signer_info["version"].native == "v1"
    root = issuer.signer.pki.root.public_bytes(serialization.Encoding.DER)
    assert sorted(c.chosen.dump() for c in signed_data["certificates"]) == sorted(
        [root, signature.signer_cert.dump()])
    assert signature.signer_cert.subject.native["common_name"] == "千代田区長 (131016)"
