"""Signing transactions (the ``sign`` scope), as デジタル認証アプリ offers them.

1. The relying party opens a transaction with its own credentials (``private_key_jwt``, no person involved): the
   SHA-256 digest of its document and a title shown to the person. It gets a transaction id and a short code to
   show (the app reads it, as the login's).
2. The person sees the client, its purpose, the title and the digest in the app and signs the digest with the
   card's or phone's signature credential (a GraphQL mutation). The certificate is verified through the identity
   domain as a signed application is (chain to the JPKI anchors, signature usage, this server's revocations then
   OCSP/CRL, the signature), and it must be one the portal issued to this person. A transaction is signed once.
3. The relying party takes the signature, the signer's certificate and chain with its credentials again.

The signature is on the person's record (やりとり履歴): an exchange naming the client, items ``signature`` and
``signature_certificate``, with its leaf in the transparency log.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.identity.pki_models import IssuedCertificate
from api.identity.service import IdentityService
from api.identity.verification import Usage, load_certificate, verify_signature
from api.oidc.clients import pairwise_subject
from api.oidc.login import new_short_code, normalise_short_code
from api.oidc.models import ClientStatus, OidcClient, OidcSignTransaction, SignStatus
from api.oidc.record import record_release
from api.platform.db import utcnow
from api.platform.errors import ErrorCode, PortalError

SessionFactory = async_sessionmaker[AsyncSession]
DIGEST_LENGTH = 32  # SHA-256
SIGN_TTL = timedelta(minutes=5)
MAX_TITLE = 200
SIGN_DUTY = "oidc:sign"
MAX_SIGNATURE = 1024
MAX_CHAIN = 4


class SignRequestError(ValueError):
    """What the relying party sent cannot open a transaction (OAuth's invalid_request)."""


def parse_digest(text: str) -> bytes:
    """The digest, base64url (padding optional) of exactly 32 bytes."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise SignRequestError("'digest' is the base64url of a SHA-256 digest.") from error
    if len(raw) != DIGEST_LENGTH:
        raise SignRequestError(f"'digest' is a SHA-256 digest: {DIGEST_LENGTH} bytes, not {len(raw)}.")
    return raw


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def open_transaction(session: Session, client: OidcClient, form: dict[str, str]) -> OidcSignTransaction:
    """The client's side (Authlib's synchronous session): the client was authenticated by its assertion."""
    if "sign" not in client.scopes.split():
        raise SignRequestError("This client is not registered for the sign scope.")
    digest = parse_digest(form.get("digest", ""))
    title = form.get("title", "").strip()
    if not 1 <= len(title) <= MAX_TITLE or not title.isprintable():
        raise SignRequestError(f"'title' is required (1 to {MAX_TITLE} printable characters).")
    now = utcnow()
    transaction = OidcSignTransaction(client_pk=client.id, short_code=new_short_code(), digest=digest, title=title,
                                      status=SignStatus.PENDING, created_at=now, expires_at=now + SIGN_TTL)
    session.add(transaction)
    session.flush()
    return transaction


def transaction_result(session: Session, client: OidcClient, transaction_id: str) -> dict[str, Any]:
    """The client takes its transaction's outcome: pending, or the signature with the signer's certificate."""
    row = _own_transaction(session, client, transaction_id)
    if row.status is SignStatus.PENDING:
        expired = row.expires_at <= utcnow()
        return {"transaction_id": str(row.id), "status": "expired" if expired else "pending"}
    assert row.signature is not None and row.certificate is not None and row.person_id is not None
    return {"transaction_id": str(row.id), "status": "signed", "digest": b64url(row.digest),
            "signature": b64url(row.signature), "certificate": base64.b64encode(row.certificate).decode(),
            "certificate_chain": row.certificate_chain or [], "signed_at": row.signed_at.isoformat(),
            "sub": pairwise_subject(client.pairwise_salt, row.person_id)}


# -- a signing transaction tied to an authorization request (scope sign + sign_transaction_id) ------------------
def check_authorization(session: Session, client: OidcClient, scopes: list[str], transaction_id: str | None, *,
                        again: bool = False) -> None:
    """デジタル認証アプリ's profile: ``scope=openid sign`` names the client's own open transaction by
    ``sign_transaction_id``; the person signs it in the app before approving the login. ``again``: the parameters
    were checked when the request came in (the login is being continued: the transaction may be signed now)."""
    if "sign" not in scopes:
        if transaction_id is not None:
            raise SignRequestError("'sign_transaction_id' goes with the sign scope.")
        return
    if "sign" not in client.scopes.split():
        raise SignRequestError("This client is not registered for the sign scope.")
    if not transaction_id:
        raise SignRequestError("The sign scope needs 'sign_transaction_id' (open one at the signing endpoint).")
    row = _own_transaction(session, client, transaction_id)
    if not again and (row.status is not SignStatus.PENDING or row.expires_at <= utcnow()):
        raise SignRequestError("The signing transaction was signed already or has expired.")


def _own_transaction(session: Session, client: OidcClient, transaction_id: str) -> OidcSignTransaction:
    try:
        key = uuid.UUID(transaction_id)
    except ValueError as error:
        raise SignRequestError("No such transaction for this client.") from error
    row = session.scalar(select(OidcSignTransaction).where(OidcSignTransaction.id == key,
                                                           OidcSignTransaction.client_pk == client.id))
    if row is None:
        raise SignRequestError("No such transaction for this client.")
    return row


def signed_result(session: Session, client: OidcClient, transaction_id: uuid.UUID,
                  person_id: uuid.UUID) -> dict[str, Any] | None:
    """The token response's ``sign_result``: the transaction's signature, if the code's person signed it."""
    answer = transaction_result(session, client, str(transaction_id))
    row = session.get(OidcSignTransaction, transaction_id)
    if answer["status"] != "signed" or row is None or row.person_id != person_id:
        return None
    return answer


@dataclass(frozen=True)
class SignView:
    transaction: OidcSignTransaction
    client: OidcClient


async def _pending(session: AsyncSession, short_code: str) -> SignView:
    row = await session.scalar(select(OidcSignTransaction).where(
        OidcSignTransaction.short_code == normalise_short_code(short_code)[:16]))
    client = await session.get(OidcClient, row.client_pk) if row is not None else None
    if row is None or client is None or client.status is not ClientStatus.APPROVED or row.expires_at <= utcnow():
        raise PortalError(ErrorCode.NOT_FOUND, "No signing request waits under this code (it may have expired).")
    if row.status is not SignStatus.PENDING:
        raise PortalError(ErrorCode.OIDC_SIGN_USED, "This signing request was signed already.")
    return SignView(row, client)


async def view_transaction(session_factory: SessionFactory, short_code: str) -> SignView:
    async with session_factory() as session:
        return await _pending(session, short_code)


async def sign_transaction(session_factory: SessionFactory, identity: IdentityService, person_id: uuid.UUID,
                           short_code: str, *, certificate: bytes, chain: list[bytes], signature: bytes) -> SignView:
    """The person signs the registered digest with their own signature credential; once only."""
    if not signature or len(signature) > MAX_SIGNATURE or len(chain) > MAX_CHAIN:
        raise PortalError("SIGNATURE_INVALID", "The signature or its chain is malformed.")
    async with session_factory() as session:
        view = await _pending(session, short_code)
    load_certificate(certificate)
    path = await identity.check_certificate(certificate, chain, Usage.SIGNATURE)  # chain, usage, revocation
    verify_signature(path.leaf, view.transaction.digest, signature, prehashed=True)
    now = utcnow()
    async with session_factory() as session, session.begin():
        owner = await session.scalar(select(IssuedCertificate.person_id).where(
            IssuedCertificate.fingerprint == path.fingerprint))
        if owner != person_id:
            raise PortalError(ErrorCode.OIDC_SIGNER_NOT_PERSON, "This signature certificate is not one of yours.")
        # One conditional move: two signatures racing on one transaction cannot both pass.
        signed = (await session.execute(
            update(OidcSignTransaction)
            .where(OidcSignTransaction.id == view.transaction.id, OidcSignTransaction.status == SignStatus.PENDING,
                   OidcSignTransaction.expires_at > now)
            .values(status=SignStatus.SIGNED, person_id=person_id, signature=signature, certificate=certificate,
                    certificate_chain=[base64.b64encode(c).decode() for c in chain], signed_at=now)
            .returning(OidcSignTransaction.id))).first()
        if signed is None:
            raise PortalError(ErrorCode.OIDC_SIGN_USED, "This signing request was signed already.")
        await record_release(session, view.client, person_id, {None: ["signature", "signature_certificate"]},
                             duty=SIGN_DUTY)
    async with session_factory() as session:
        return SignView(await session.get_one(OidcSignTransaction, view.transaction.id), view.client)
