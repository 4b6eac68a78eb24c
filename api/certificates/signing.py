"""PAdES signatures by the issuing municipality, and document timestamps from the portal's own RFC 3161 TSA.

Everything here is built once per process from the loaded keys (``CertificatePki``): a signer per
municipality and the time-stamping authority. A document then costs one ECDSA signature for the municipality,
one for the TSA, and two incremental updates of the PDF (pyHanko).

The signed PDF also becomes PDF/A-2b in the first update: the XMP metadata declares it (pdfaid) and the
catalogue gets an sRGB output intent. pyHanko rewrites the XMP on every update, so each update re-declares it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import ImageCms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import NS, ExpandedName, XmpStructure, XmpValue
from pyhanko.sign import fields, signers
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from api.certificates import to_unicode
from api.certificates.pki import CertificatePki, KeyPair

# A policy OID under the sandbox's private arc; production's TSA states its own.
TSA_POLICY = "1.3.6.1.4.1.55555.1.1"
_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}
_RESERVED = 8192  # bytes kept for the CMS blob of each signature (ECDSA lengths vary by a byte or two)
_PDFA = XmpStructure({ExpandedName(NS["pdfaid"], "part"): XmpValue("2"),
                      ExpandedName(NS["pdfaid"], "conformance"): XmpValue("B")})
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


class TimeStampRefused(ValueError):
    """The request is not one this TSA answers (bad DER, an unknown digest, a wrong imprint length)."""


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: the tag, the definite length, the content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_ECDSA_SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()
_CONTENT_TYPE, _MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.3"), _oid("1.2.840.113549.1.9.4")
_DATA, _TST_INFO, _SIGNED_DATA = _oid("1.2.840.113549.1.7.1"), _oid("1.2.840.113549.1.9.16.1.4"), \
    _oid("1.2.840.113549.1.7.2")
_ALGORITHM_PROTECTION = cms.CMSAttribute({"type": "cms_algorithm_protection", "values": [cms.CMSAlgorithmProtection({
    "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
    "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})})]}).dump()


class LoadedKeySigner(signers.Signer):
    """pyHanko's signer interface over a key loaded once (pyHanko's SimpleSigner parses its key per signature).

    The CMS SignedData is written here as DER from parts encoded once: asn1crypto, which pyHanko builds it with,
    re-serialises every parsed certificate, name and attribute each time they are copied into a new structure,
    and that was most of a certificate's cost (profiled: ~25 ms of ~35 ms per signature + timestamp). The output
    is the same CAdES-BES structure pyHanko makes for PAdES (content type, message digest, ESS
    signing-certificate-v2, CMS algorithm protection; SHA-256 and ECDSA only); anything else falls back to
    pyHanko's own assembly.
    """

    def __init__(self, pair: KeyPair, chain: list[x509.Certificate]) -> None:
        super().__init__(signing_cert=_asn1(pair.cert),
                         cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in chain]),
                         signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                         embed_roots=True)
        self._key = pair.key
        own = _asn1(pair.cert)
        self._sid = cms.IssuerAndSerialNumber({"issuer": own.issuer, "serial_number": own.serial_number}).dump()
        self._signing_certificate = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [
            as_signing_certificate_v2(own)]}).dump()
        ders = {pair.cert.public_bytes(serialization.Encoding.DER)} | {
            c.public_bytes(serialization.Encoding.DER) for c in chain}
        self._certificates = _tlv(0xA0, b"".join(sorted(ders)))  # [0] IMPLICIT SET OF, DER order

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def signed_data(self, digest: bytes, *, content_type: bytes = _DATA, content: bytes | None = None) -> bytes:
        """A CMS ContentInfo (SignedData) over ``digest``: detached, or encapsulating ``content``."""
        attributes = sorted([
            _tlv(0x30, _CONTENT_TYPE + _tlv(0x31, content_type)),
            _tlv(0x30, _MESSAGE_DIGEST + _tlv(0x31, _tlv(0x04, digest))),
            self._signing_certificate, _ALGORITHM_PROTECTION])
        signed = b"".join(attributes)
        signature = self._key.sign(_tlv(0x31, signed), ec.ECDSA(hashes.SHA256()))
        signer_info = _tlv(0x30, b"\x02\x01\x01" + self._sid + _SHA256 + _tlv(0xA0, signed) + _ECDSA_SHA256
                           + _tlv(0x04, signature))
        encapsulated = content_type if content is None else content_type + _tlv(0xA0, _tlv(0x04, content))
        version = b"\x02\x01\x01" if content_type == _DATA else b"\x02\x01\x03"
        signed_data = _tlv(0x30, version + _tlv(0x31, _SHA256) + _tlv(0x30, encapsulated) + self._certificates
                           + _tlv(0x31, signer_info))
        return _tlv(0x30, _SIGNED_DATA + _tlv(0xA0, signed_data))

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False,
                         use_pades: bool = False, timestamper: TimeStamper | None = None,
                         signed_attr_settings: signers.PdfCMSSignedAttributes | None = None, is_pdf_sig: bool = True,
                         encap_content_info: Any = None) -> cms.ContentInfo:
        # PAdES's attributes only (its signing time is the signature dictionary's /M, not an attribute).
        extra = signed_attr_settings is not None and (signed_attr_settings.adobe_revinfo_attr is not None
                                                      or signed_attr_settings.cades_signed_attrs is not None)
        if (digest_algorithm != "sha256" or not use_pades or timestamper is not None
                or encap_content_info is not None or extra):
            return await super().async_sign(data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                                            timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                                            is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)
        return cms.ContentInfo.load(self.signed_data(data_digest))


class TimeStampAuthority:
    """The portal's RFC 3161 time-stamping authority: the HTTP endpoint and the in-process signer both call it."""

    def __init__(self, pair: KeyPair, root: x509.Certificate) -> None:
        self._signer = LoadedKeySigner(pair, [root])
        self.certificate = pair.cert
        self._name = asn1_x509.GeneralName(name="directory_name", value=_asn1(pair.cert).subject)

    async def respond(self, request: tsp.TimeStampReq, *, now: dt.datetime | None = None) -> tsp.TimeStampResp:
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if request["version"].native != "v1" or _DIGESTS.get(algorithm) != len(imprint["hashed_message"].native):
            raise TimeStampRefused("a v1 request with a SHA-2 message imprint of the right length is expected")
        if request["req_policy"].native not in (None, TSA_POLICY):
            raise TimeStampRefused("this TSA issues tokens under its own policy only")
        info = {"version": "v1", "policy": TSA_POLICY, "message_imprint": imprint,
                "serial_number": int.from_bytes(secrets.token_bytes(16), "big"),
                "gen_time": (now or dt.datetime.now(dt.UTC)).replace(microsecond=0), "tsa": self._name}
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"]
        tst_info = tsp.TSTInfo(info).dump()
        token = self._signer.signed_data(hashlib.sha256(tst_info).digest(), content_type=_TST_INFO,
                                         content=tst_info)
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token)})

    async def respond_der(self, body: bytes) -> bytes:
        try:
            request = tsp.TimeStampReq.load(body)
            request.native  # noqa: B018 -- parses every field now: bad DER is refused here, not half-way
        except (ValueError, TypeError) as error:
            raise TimeStampRefused("the body is not a DER TimeStampReq") from error
        return (await self.respond(request)).dump()


class InProcessTimeStamper(TimeStamper):
    """pyHanko's time-stamp client, answered by the portal's TSA without a loopback HTTP round trip."""

    def __init__(self, tsa: TimeStampAuthority) -> None:
        super().__init__(include_nonce=True)
        self._tsa = tsa

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return await self._tsa.respond(req)


@dataclass(frozen=True)
class SignedDocument:
    pdf: bytes
    signer_subject: str


def _declare_pdfa(writer: IncrementalPdfFileWriter) -> None:
    writer.document_meta.xmp_extra = [_PDFA]


def _add_output_intent(writer: IncrementalPdfFileWriter) -> None:
    profile = generic.StreamObject({generic.NameObject("/N"): generic.NumberObject(3)}, stream_data=_SRGB)
    profile.compress()
    intent = generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/OutputIntent"),
        generic.NameObject("/S"): generic.NameObject("/GTS_PDFA1"),
        generic.NameObject("/OutputConditionIdentifier"): generic.TextStringObject("sRGB IEC61966-2.1"),
        generic.NameObject("/RegistryName"): generic.TextStringObject("http://www.color.org"),
        generic.NameObject("/Info"): generic.TextStringObject("sRGB IEC61966-2.1"),
        generic.NameObject("/DestOutputProfile"): writer.add_object(profile),
    })
    writer.root[generic.NameObject("/OutputIntents")] = generic.ArrayObject([writer.add_object(intent)])
    writer.update_root()


class MunicipalSigner:
    """Signs certificates for every municipality it holds a key for; built once per process."""

    def __init__(self, pki: CertificatePki) -> None:
        self.pki = pki
        self.tsa = TimeStampAuthority(pki.tsa, pki.root)
        self._timestamper = InProcessTimeStamper(self.tsa)
        self._signers = {code: LoadedKeySigner(pair, [pki.root]) for code, pair in pki.signers.items()}
        self._subjects = {code: pair.cert.subject.rfc4514_string() for code, pair in pki.signers.items()}

    def has(self, municipality_code: str) -> bool:
        return municipality_code in self._signers

    def add(self, municipality_code: str, pair: KeyPair) -> None:
        self._signers[municipality_code] = LoadedKeySigner(pair, [self.pki.root])
        self._subjects[municipality_code] = pair.cert.subject.rfc4514_string()

    async def sign(self, pdf: bytes, municipality_code: str, *, reason: str, location: str,
                   outside_bmp: bool = False) -> SignedDocument:
        """``outside_bmp``: the text has characters above U+FFFF, whose ToUnicode entries are rewritten first."""
        signer = self._signers[municipality_code]
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        if outside_bmp:
            to_unicode.repair(writer)
        _declare_pdfa(writer)
        _add_output_intent(writer)
        meta = signers.PdfSignatureMetadata(field_name="MunicipalSignature", md_algorithm="sha256",
                                            subfilter=fields.SigSeedSubFilter.PADES, reason=reason, location=location)
        signed = io.BytesIO()
        await signers.PdfSigner(meta, signer=signer).async_sign_pdf(writer, output=signed,
                                                                    bytes_reserved=_RESERVED)
        stamped = io.BytesIO()
        stamp_writer = IncrementalPdfFileWriter(signed)
        _declare_pdfa(stamp_writer)
        await signers.PdfTimeStamper(self._timestamper).async_timestamp_pdf(
            stamp_writer, "sha256", output=stamped, bytes_reserved=_RESERVED)
        return SignedDocument(stamped.getvalue(), self._subjects[municipality_code])
