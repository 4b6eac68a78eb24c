from __future__ import annotations

import io
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature

from api.certificates import pki
from api.certificates.issuing import CertificateIssuer
from api.certificates.to_unicode import outside_bmp, utf16_cmap
from tests.api.certificates.test_service import pdf_text
from tests.api.certificates.test_signing import _context, _text


def test_destinations_above_the_bmp_become_surrogate_pairs() -> None:
    cmap = b"2 beginbfchar\n<86> <20BB7>\n<87> <7530>\nendbfchar\n"
    assert utf16_cmap(cmap) == b"2 beginbfchar\n<86> <D842DFB7>\n<87> <7530>\nendbfchar\n"
    assert (outside_bmp(["山田", "𠮷田"]), outside_bmp(["山田", "髙橋"])) == (True, False)


async def test_an_ipamj_name_outside_the_bmp_reads_back_from_the_signed_pdf(issuer: CertificateIssuer,
                                                                            pki_dir: Path) -> None:
    assert issuer.signer is not None
    if not issuer.signer.has("131016"):  # the sandbox makes a municipality's key on its first certificate
        issuer.signer.add("131016", pki.load_or_create_sandbox(pki_dir, {"131016": "千代田区"}).signer("131016"))
    text = _text("𠮷田 花子")
    rendered = issuer.renderer.render(text)
    assert "𠮷田花子" not in pdf_text(rendered.pdf)  # ReportLab's own CMap (drop the fix once this fails)
    signed = await issuer.signer.sign(rendered.pdf, "131016", reason=text.title, location=text.municipality,
                                      outside_bmp=True)
    assert pdf_text(signed.pdf).count("𠮷田花子") == 2  # the block's heading and the name
    signature, _ = PdfFileReader(io.BytesIO(signed.pdf)).embedded_signatures
    status = await async_validate_pdf_signature(signature, _context(issuer), skip_diff=False)
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
