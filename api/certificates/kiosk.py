"""コンビニ交付: registered kiosks, the card's session at one kiosk, and documents handed to that kiosk once.

What went wrong in 2023 (one-stop.md §3.5) cannot happen by construction here:
- there is no print queue shared between requests: each document is its own row, made for the person the
  *session* names (the card that authenticated at this kiosk), never for a person the request names;
- a kiosk receives a document only by (its own key, its own open session, that document's id), in one
  conditional UPDATE that also takes the PDF off the server: a second take, another kiosk, or a session
  whose card has left, gets nothing;
- a print failure or timeout voids the document (the paper must not exist) and a reissue is a new document for
  the same session; the database constraints (kiosk_has_session, kiosk_self_only) back all of it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.certificates import content
from api.certificates.issuing import CertificateIssuer, new_public_id, new_serial
from api.certificates.models import CertificateIssuance, CertificateKind, Channel, IssuanceState, Kiosk, KioskSession
from api.certificates.registers import CertificateOffice
from api.certificates.service import insert_issuance, record_issuance, replay_issuance
from api.people.models import Municipality
from api.platform.db import new_id, utcnow
from api.platform.errors import PortalError

SessionFactory = async_sessionmaker[AsyncSession]
KEY_PREFIX = "kiosk_"
SESSION_TTL = timedelta(minutes=10)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def register_kiosk(session: AsyncSession, *, terminal_id: str, store_name: str, operator: str,
                         now: datetime | None = None) -> tuple[Kiosk, str]:
    """A new terminal and its key (shown once; only its hash is kept)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    kiosk = Kiosk(terminal_id=terminal_id, store_name=store_name, operator=operator, key_hash=hash_key(key),
                  created_at=now or utcnow())
    session.add(kiosk)
    await session.flush()
    return kiosk, key


async def kiosk_for_key(sf: SessionFactory, key: str) -> Kiosk | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    async with sf() as session:
        return await session.scalar(select(Kiosk).where(Kiosk.key_hash == hash_key(key), Kiosk.revoked_at.is_(None)))


def client_id(kiosk: Kiosk) -> str:
    """The card login's client id at this kiosk (the challenge is bound to it)."""
    return f"kiosk:{kiosk.terminal_id}"


async def open_session(sf: SessionFactory, kiosk: Kiosk, *, person_id: uuid.UUID, login_session_id: uuid.UUID,
                       now: datetime | None = None) -> KioskSession:
    """The card authenticated at this kiosk (api.identity checked the certificate, its chain and revocation, and
    the signature over the kiosk's challenge): one session per card presence. A new card ends the previous one."""
    now = now or utcnow()
    async with sf() as session, session.begin():
        await _end_open(session, kiosk.id, now, reason="another card")
        row = KioskSession(kiosk_id=kiosk.id, person_id=person_id, login_session_id=login_session_id,
                           started_at=now, expires_at=now + SESSION_TTL)
        session.add(row)
    return row


async def _end_open(session: AsyncSession, kiosk_id: uuid.UUID, now: datetime, *, reason: str,
                    session_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    query = update(KioskSession).where(KioskSession.kiosk_id == kiosk_id, KioskSession.ended_at.is_(None))
    if session_id is not None:
        query = query.where(KioskSession.id == session_id)
    ended = list(await session.scalars(query.values(ended_at=now).returning(KioskSession.id)))
    if ended:
        # What the kiosk had not taken yet will never be handed to anyone.
        await session.execute(update(CertificateIssuance).where(
            CertificateIssuance.kiosk_session_id.in_(ended), CertificateIssuance.state == IssuanceState.ISSUED)
            .values(state=IssuanceState.VOID, document=None, void_at=now, void_reason=f"kiosk session ended: {reason}"))
    return ended


async def end_session(sf: SessionFactory, kiosk: Kiosk, session_id: uuid.UUID, *, now: datetime | None = None
                      ) -> uuid.UUID | None:
    """The card left the reader: the session ends; its login session id is returned for api.identity to end."""
    async with sf() as session, session.begin():
        ended = await _end_open(session, kiosk.id, now or utcnow(), reason="card removed", session_id=session_id)
        if not ended:
            return None
        return await session.scalar(select(KioskSession.login_session_id).where(KioskSession.id == ended[0]))


async def _live(session: AsyncSession, kiosk: Kiosk, session_id: uuid.UUID, now: datetime) -> KioskSession:
    row = await session.get(KioskSession, session_id)
    if row is None or row.kiosk_id != kiosk.id:
        raise PortalError("NOT_FOUND", "No such kiosk session at this kiosk.")
    if row.ended_at is not None or row.expires_at <= now:
        raise PortalError("KIOSK_SESSION_ENDED", "The card's session at this kiosk has ended; insert the card again.")
    return row


@dataclass(frozen=True)
class KioskRequest:
    kind: CertificateKind
    options: content.Options
    request_key: str
    receipt: str  # the kiosk's receipt of the fee paid there
    replaces: uuid.UUID | None = None  # a document voided by a failed print: reissued without a second fee


async def request(sf: SessionFactory, issuer: CertificateIssuer, kiosk: Kiosk, session_id: uuid.UUID,
                  new: KioskRequest, *, today: date, now: datetime | None = None) -> CertificateIssuance:
    """Make the certificate of the session's card holder; the subject is never taken from the request."""
    now = now or utcnow()
    options = new.options.check(new.kind)
    if options.individual_number:
        raise PortalError("BAD_USER_INPUT", "Kiosks do not print the individual number here.",
                          extensions={"field": "individualNumber"})
    if not 1 <= len(new.request_key) <= 64 or not 1 <= len(new.receipt) <= 64:
        raise PortalError("BAD_USER_INPUT", "The request key and the receipt must have 1 to 64 characters.")
    # The liveness test in its own short transaction: the card's other requests (a kiosk sends several at once)
    # must not queue on the session's row while this one reads the registers.
    async with sf() as session, session.begin():
        live = await session.scalar(update(KioskSession).where(
            KioskSession.id == session_id, KioskSession.kiosk_id == kiosk.id, KioskSession.ended_at.is_(None),
            KioskSession.expires_at > now).values(expires_at=now + SESSION_TTL).returning(KioskSession.person_id))
        if live is None:
            await _live(session, kiosk, session_id, now)  # raises the precise refusal
    person_id = live
    async with sf() as session, session.begin():
        source = await content.source_of(session, new.kind, person_id, options)
        office = await session.get(CertificateOffice, source.municipality_code)
        if office is None or new.kind.value not in office.fees:
            raise PortalError("CERTIFICATE_NOT_AVAILABLE", "This municipality does not issue it at kiosks.")
        fee = office.fees[new.kind.value]
        if new.replaces is not None:
            voided = await session.scalar(select(CertificateIssuance.id).where(
                CertificateIssuance.id == new.replaces, CertificateIssuance.kiosk_session_id == session_id,
                CertificateIssuance.state == IssuanceState.VOID, CertificateIssuance.kind == new.kind))
            if voided is None:
                raise PortalError("NOT_FOUND", "No voided document of this session to reissue.")
            fee = 0
        await issuer.ensure_signer(session, source.municipality_code)
        issuance_id = new_id()
        inserted = await insert_issuance(session, {
            "id": issuance_id, "public_id": new_public_id(), "serial": new_serial(today.year), "kind": new.kind,
            "municipality_code": source.municipality_code, "subject_person_id": person_id,
            "actor_person_id": person_id, "acting_basis": "self", "channel": Channel.KIOSK,
            "options": options.to_json(), "includes_individual_number": False, "request_key": new.request_key,
            "state": IssuanceState.AWAITING_PAYMENT, "fee": fee, "kiosk_session_id": session_id,
            "kiosk_receipt": new.receipt, "requested_at": now, "issued_at": now})
        if inserted is None:
            return await replay_issuance(session, person_id, Channel.KIOSK, new.request_key,
                                 {"kind": new.kind, "kiosk_session_id": session_id, "options": options.to_json()})
        row = await session.get_one(CertificateIssuance, issuance_id)
        text = await issuer.text(session, row)
    produced = await issuer.produce(text, source.municipality_code)
    async with sf() as session, session.begin():
        # Kept for the kiosk only while the card's session is open (a card that left meanwhile voids it).
        open_session = select(KioskSession.id).where(KioskSession.id == session_id, KioskSession.ended_at.is_(None))
        kept = await session.scalar(update(CertificateIssuance).where(
            CertificateIssuance.id == issuance_id, CertificateIssuance.state == IssuanceState.AWAITING_PAYMENT,
            CertificateIssuance.kiosk_session_id.in_(open_session)).values(
            state=IssuanceState.ISSUED, document=produced.pdf, document_sha256=produced.sha256,
            pages=produced.pages).returning(CertificateIssuance.id))
        if kept is None:
            await session.execute(update(CertificateIssuance).where(
                CertificateIssuance.id == issuance_id, CertificateIssuance.state == IssuanceState.AWAITING_PAYMENT)
                .values(state=IssuanceState.VOID, void_at=now, void_reason="kiosk session ended: card removed"))
        row = await session.get_one(CertificateIssuance, issuance_id, populate_existing=True)
        municipality = await session.get_one(Municipality, source.municipality_code)
        await record_issuance(session, row, municipality.name, f"{kiosk.operator} {kiosk.store_name}")
    return row


async def take(sf: SessionFactory, kiosk: Kiosk, session_id: uuid.UUID, issuance_id: uuid.UUID, *,
               now: datetime | None = None) -> bytes:
    """The PDF, once, to the kiosk whose open session asked for it; the server keeps no copy afterwards."""
    now = now or utcnow()
    async with sf() as session, session.begin():
        own_session = select(KioskSession.id).where(KioskSession.id == session_id, KioskSession.kiosk_id == kiosk.id,
                                                    KioskSession.ended_at.is_(None), KioskSession.expires_at > now)
        handed = await session.scalar(update(CertificateIssuance).where(
            CertificateIssuance.id == issuance_id, CertificateIssuance.kiosk_session_id == session_id,
            CertificateIssuance.kiosk_session_id.in_(own_session), CertificateIssuance.state == IssuanceState.ISSUED)
            .values(state=IssuanceState.HANDED, handed_at=now).returning(CertificateIssuance.id))
        if handed is None:
            await _live(session, kiosk, session_id, now)
            state = await session.scalar(select(CertificateIssuance.state).where(
                CertificateIssuance.id == issuance_id, CertificateIssuance.kiosk_session_id == session_id))
            if state in (IssuanceState.HANDED, IssuanceState.PRINTED):
                raise PortalError("DOCUMENT_ALREADY_HANDED", "This document was already handed to the kiosk.")
            raise PortalError("NOT_FOUND", "No document of this session has this id.")
        document = await session.scalar(select(CertificateIssuance.document).where(
            CertificateIssuance.id == issuance_id))
        await session.execute(update(CertificateIssuance).where(CertificateIssuance.id == issuance_id)
                              .values(document=None))
    assert document is not None
    return document


async def confirm(sf: SessionFactory, kiosk: Kiosk, session_id: uuid.UUID, issuance_id: uuid.UUID, *,
                  printed: bool, now: datetime | None = None) -> IssuanceState:
    """The kiosk reports the print: PRINTED, or VOID (a failure or timeout: the paper must not exist)."""
    now = now or utcnow()
    values: dict[str, object] = ({"state": IssuanceState.PRINTED, "printed_at": now} if printed else
                                 {"state": IssuanceState.VOID, "void_at": now, "void_reason": "print failed"})
    async with sf() as session, session.begin():
        owner = select(KioskSession.id).where(KioskSession.id == session_id, KioskSession.kiosk_id == kiosk.id)
        done = await session.scalar(update(CertificateIssuance).where(
            CertificateIssuance.id == issuance_id, CertificateIssuance.kiosk_session_id.in_(owner),
            CertificateIssuance.state == IssuanceState.HANDED).values(**values).returning(CertificateIssuance.state))
        if done is not None:
            return done
        state = await session.scalar(select(CertificateIssuance.state).where(
            CertificateIssuance.id == issuance_id, CertificateIssuance.kiosk_session_id.in_(owner)))
        if state is None:
            raise PortalError("NOT_FOUND", "No document of this session has this id.")
        return state  # a retried confirmation answers the state it left
