"""PAdES signatures by the issuing municipality, and document timestamps from the portal's own RFC 3161 TSA.

Everything here is built once per process from the loaded keys (``CertificatePki``): a signer per
municipality and the time-stamping authority. A document then costs one ECDSA signature for the municipality,
one for the TSA, and two incremental updates of the PDF (pyHanko).

The signed PDF also becomes PDF/A-2b in the first update: the XMP metadata declares it (pdfaid) and the
catalogue gets an sRGB output intent. pyHanko rewrites the XMP on every update, so each update re-declares it.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass

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
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

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


class LoadedKeySigner(signers.Signer):
    """pyHanko's signer interface over a key loaded once (pyHanko's SimpleSigner parses its key per signature)."""

    def __init__(self, pair: KeyPair, chain: list[x509.Certificate]) -> None:
        super().__init__(signing_cert=_asn1(pair.cert),
                         cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in chain]),
                         signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                         embed_roots=True)
        self._key = pair.key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


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
        content = cms.EncapsulatedContentInfo({"content_type": "tst_info",
                                               "content": core.ParsableOctetString(tsp.TSTInfo(info).dump())})
        token = await self._signer.async_sign_general_data(content, "sha256", detached=False, use_cades=True)
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})

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

    async def sign(self, pdf: bytes, municipality_code: str, *, reason: str, location: str) -> SignedDocument:
        signer = self._signers[municipality_code]
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
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
