"""Submission signed with the JPKI signature certificate.

The client signs the SHA-256 of the application's canonical JSON (RFC 8785): the procedure and its form version,
the municipality, the applicant and the person applied for (基本4情報), the form, the SHA-256 of every attachment,
and the nonce the server issued for this application (a new one after each submission, so a signature cannot be
replayed onto another submission or a later correction). The card signs with ``myna-bridge sign --key sign
--digest <sha256>``; the phone's signature credential signs the same bytes.

The server verifies the certificate through the identity domain (chain to the JPKI anchors, signature usage,
this server's revocations, then OCSP/CRL), the signature over the document, and that the certificate's
基本4情報 name the applicant, who must (still) be allowed to act for the subject: themselves, a parent for a
minor child, or a proxy with a grant carrying applications:write. The signature, the certificate and the signed
document stay with the application for the municipality.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography import x509
from sqlalchemy import LargeBinary, Select, Uuid, and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from api.agencies.models import Agency, AgencyKind, AgencyPersonCode
from api.agencies.service import assign_code
from api.applications.attachments import attachments_of
from api.applications.canonical import canonical_json
from api.applications.catalogue import Procedure, form_errors, procedure
from api.applications.drafts import EDITABLE
from api.applications.models import (
    DECIDED,
    RECEIVED,
    WITHDRAWN,
    Application,
    ApplicationAttachment,
    ApplicationEvent,
    ProcedureOffering,
)
from api.applications.notify import notify_move
from api.identity.service import IdentityService
from api.identity.verification import Usage, verify_signature
from api.people.models import Person, Sex
from api.platform.db import new_id, utcnow
from api.platform.errors import PortalError
from api.platform.scopes import APPLICATIONS_WRITE
from api.proxies.service import acting_for

DOCUMENT_FORMAT = "mynaportal-application/1"
# JPKI's personal attributes in the signature certificate's subjectAltName (otherName UTF8Strings).
OID_NAME = x509.ObjectIdentifier("1.2.392.200149.8.5.5.1")
OID_SEX = x509.ObjectIdentifier("1.2.392.200149.8.5.5.3")
OID_BIRTH_DATE = x509.ObjectIdentifier("1.2.392.200149.8.5.5.4")


def basic4(person: Person) -> dict[str, str]:
    return {"name": person.name, "birthDate": person.birth_date.isoformat(),
            "sex": "1" if person.sex is Sex.MALE else "2", "address": person.address}


def document_of(application: Application, applicant: Person, subject: Person,
                attachments: list[ApplicationAttachment]) -> dict[str, Any]:
    return {
        "format": DOCUMENT_FORMAT,
        "application": str(application.id),
        "procedure": application.procedure_code,
        "formVersion": application.form_version,
        "municipality": application.municipality_code,
        "applicant": basic4(applicant),
        "subject": basic4(subject),
        "form": application.form,
        "attachments": [{"requirement": a.requirement, "sha256": a.sha256.hex(), "size": a.size,
                         "mediaType": a.media_type} for a in attachments],
        "nonce": base64.urlsafe_b64encode(application.nonce).rstrip(b"=").decode(),
    }


@dataclass(frozen=True)
class ToSign:
    document: bytes  # the canonical JSON
    digest: bytes  # its SHA-256: what the card signs

    @property
    def digest_hex(self) -> str:
        return self.digest.hex()


def _check_state(application: Application) -> None:
    if application.status == WITHDRAWN:
        raise PortalError("APPLICATION_WITHDRAWN", "This application has been withdrawn; start a new one.")
    if application.status in DECIDED:
        raise PortalError("APPLICATION_ALREADY_DECIDED", "This application has been decided; start a new one.")
    if application.status not in EDITABLE:
        raise PortalError("APPLICATION_ALREADY_SUBMITTED", "This application has been sent and is being handled.")


def _check_ready(proc: Procedure, application: Application, attachments: list[ApplicationAttachment]) -> None:
    errors = form_errors(proc, application.form)
    if errors:
        raise PortalError("FORM_INVALID", f"The form does not match its schema: {errors[0]['path']}: "
                          f"{errors[0]['message']}", extensions={"errors": errors})
    have = {a.requirement for a in attachments}
    for wanted in proc.attachments:
        if wanted.required_unless is None or wanted.code in have:
            continue
        section, _, name = wanted.required_unless.partition(".")
        if application.form.get(section, {}).get(name) is not True:
            raise PortalError("ATTACHMENT_MISSING", f"Attach {wanted.name} ({wanted.condition}).",
                              extensions={"requirement": wanted.code})


@dataclass(frozen=True)
class Loaded:
    application: Application
    applicant: Person
    subject: Person
    offering: ProcedureOffering | None  # None: not (or no longer) published
    agency_id: uuid.UUID | None  # the municipality's agency (None: not on the portal)
    applicant_code: str | None  # the municipality's code for the applicant (None: not yet given)


def _load_statement() -> Select[Any]:
    applicant, subject = aliased(Person), aliased(Person)
    return (select(Application, applicant, subject, ProcedureOffering, Agency.id, AgencyPersonCode.code)
            .join(applicant, applicant.id == Application.applicant_person_id)
            .join(subject, subject.id == Application.subject_person_id)
            .outerjoin(ProcedureOffering, and_(ProcedureOffering.municipality_code == Application.municipality_code,
                                               ProcedureOffering.procedure_code == Application.procedure_code,
                                               ProcedureOffering.withdrawn_at.is_(None)))
            .outerjoin(Agency, and_(Agency.kind == AgencyKind.MUNICIPALITY,
                                    Agency.municipality_code == Application.municipality_code))
            .outerjoin(AgencyPersonCode, and_(AgencyPersonCode.agency_id == Agency.id,
                                              AgencyPersonCode.person_id == Application.applicant_person_id))
            .where(Application.id == bindparam("application", type_=Uuid),
                   Application.applicant_person_id == bindparam("actor", type_=Uuid)))


_MOVED = ("status", "reception_number", "signed_document", "signed_digest", "signature", "certificate",
          "certificate_chain", "nonce", "submitted_at", "updated_at")
_APPLICATIONS, _EVENTS = Application.__table__, ApplicationEvent.__table__
# Built once, with bound parameters: a submission rush constructs and compiles nothing (SQLAlchemy's cache keeps
# the compiled forms). The move is conditional: two submissions racing with the same nonce cannot both pass.
_LOAD = _load_statement()
_MOVE = (update(_APPLICATIONS)
         .where(_APPLICATIONS.c.id == bindparam("p_application", type_=Uuid), _APPLICATIONS.c.status.in_(EDITABLE),
                _APPLICATIONS.c.nonce == bindparam("p_previous_nonce", type_=LargeBinary))
         .values({name: bindparam(f"p_{name}", type_=_APPLICATIONS.c[name].type) for name in _MOVED})
         .returning(_APPLICATIONS.c.id))
_EVENT = insert(_EVENTS).values({name: bindparam(f"p_{name}", type_=_EVENTS.c[name].type)
                                 for name in ("id", "application_id", "at", "from_status", "to_status", "actor")})


async def _load(session: AsyncSession, actor_id: uuid.UUID, application_id: uuid.UUID
                ) -> tuple[Loaded, list[ApplicationAttachment]]:
    """The application with its applicant, subject, the offering it is typed under, the municipality's agency and
    its code for the applicant: one statement, then its attachments."""
    found = (await session.execute(_LOAD, {"application": application_id, "actor": actor_id})).first()
    if found is None:
        raise PortalError("NOT_FOUND", "No such application of yours.")
    loaded = Loaded(*found)
    return loaded, await attachments_of(session, loaded.application.id)


async def to_sign(session_factory: async_sessionmaker[AsyncSession], actor_id: uuid.UUID,
                  application_id: uuid.UUID) -> ToSign:
    """The exact bytes to sign (and their digest), once the form is complete."""
    async with session_factory() as session:
        loaded, attachments = await _load(session, actor_id, application_id)
        application, applicant, subject = loaded.application, loaded.applicant, loaded.subject
        _check_state(application)
        _check_ready(procedure(application.procedure_code), application, attachments)
        document = canonical_json(document_of(application, applicant, subject, attachments))
    return ToSign(document, hashlib.sha256(document).digest())


def _san_text(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for name in names.get_values_for_type(x509.OtherName):
        if name.type_id == oid and len(name.value) >= 2 and name.value[0] == 0x0C:
            length, offset = name.value[1], 2
            if length & 0x80:
                size = length & 0x7F
                length, offset = int.from_bytes(name.value[2:2 + size], "big"), 2 + size
            return name.value[offset:offset + length].decode("utf-8", "replace")
    return None


def _folded(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


def signer_is(cert: x509.Certificate, person: Person) -> bool:
    """Do the certificate's 基本4情報 name this person? Name (spaces and width folded), birth date and sex; the
    address is not compared: it changes with a move, and the municipality sees it in the certificate."""
    name, birth, sex = (_san_text(cert, oid) for oid in (OID_NAME, OID_BIRTH_DATE, OID_SEX))
    return (name is not None and _folded(name) == _folded(person.name)
            and birth == person.birth_date.strftime("%Y%m%d") and sex == ("1" if person.sex is Sex.MALE else "2"))


async def submit(session_factory: async_sessionmaker[AsyncSession], identity: IdentityService, actor_id: uuid.UUID,
                 application_id: uuid.UUID, *, form_version: int, certificate: bytes | None, chain: list[bytes],
                 signature: bytes | None, today: date) -> Application:
    """One transaction: load and check the application, this server's revocations of the certificate, the
    signature over the document rebuilt here, the applicant's right to act for the subject (on their record),
    the conditional move, its history entry and the receipt notice. Before it, without the database: the
    certificate's chain (kept once checked) and its network revocation status (cached)."""
    path = None
    if certificate is not None and signature is not None:
        path = await identity.check_without_own_revocation(certificate, chain, Usage.SIGNATURE)
    now = utcnow()
    async with session_factory() as session, session.begin():
        loaded, attachments = await _load(session, actor_id, application_id)
        application, applicant, subject, offering = (loaded.application, loaded.applicant, loaded.subject,
                                                     loaded.offering)
        _check_state(application)
        proc = procedure(application.procedure_code)
        if offering is None or loaded.agency_id is None:
            raise PortalError("PROCEDURE_NOT_OFFERED", "The municipality does not take this procedure online.")
        if form_version != application.form_version or offering.form_version != application.form_version:
            raise PortalError("FORM_VERSION_MISMATCH", "The form was typed in another version than the one "
                              "published now; start again on the current form.",
                              extensions={"formVersion": offering.form_version})
        _check_ready(proc, application, attachments)
        document = canonical_json(document_of(application, applicant, subject, attachments))
        if offering.signature_required and path is None:
            raise PortalError("SIGNATURE_REQUIRED", "This procedure must be signed with the card's signature "
                              "certificate.")
        if path is not None:
            await identity.check_own_revocation(session, path)
            verify_signature(path.leaf, document, signature or b"")
            if not signer_is(path.leaf, applicant):
                raise PortalError("SIGNER_NOT_APPLICANT", "The signature certificate names someone other than the "
                                  "applicant.")
        if await acting_for(session, actor_id, application.subject_person_id, APPLICATIONS_WRITE, today=today,
                            purpose=f"application:{proc.code}:submit") is None:
            raise PortalError("NOT_AUTHORIZED_FOR_PERSON", "You may no longer apply for this person.")
        from_status = application.status
        number = application.reception_number or _reception_number(application.municipality_code, now)
        values = {"status": RECEIVED, "reception_number": number, "signed_document": document,
                  "signed_digest": hashlib.sha256(document).digest(), "signature": signature if path else None,
                  "certificate": certificate if path else None,
                  "certificate_chain": [base64.b64encode(c).decode() for c in chain] if path else None,
                  "nonce": secrets.token_bytes(32), "submitted_at": now, "updated_at": now}
        moved = (await session.execute(_MOVE, {**{f"p_{name}": value for name, value in values.items()},
                                               "p_application": application.id,
                                               "p_previous_nonce": application.nonce})).first()
        if moved is None:
            raise PortalError("APPLICATION_ALREADY_SUBMITTED", "This application was sent meanwhile.")
        event_id = new_id()
        await session.execute(_EVENT, {"p_id": event_id, "p_application_id": application.id, "p_at": now,
                                       "p_from_status": from_status, "p_to_status": RECEIVED, "p_actor": "person"})
        if loaded.applicant_code is None:  # the municipality knows the applicant by its own code from now on
            await assign_code(session, loaded.agency_id, applicant.id)
        session.expunge(application)
        for name, value in values.items():
            setattr(application, name, value)
        await notify_move(session, application, loaded.agency_id, event_id, RECEIVED, None, now=now)
    return application


def _reception_number(municipality_code: str, now: Any) -> str:
    return f"{municipality_code}{now:%y%m%d}{secrets.randbelow(10**10):010d}"
