"""The revocation checker against the portal's own OCSP responder and CRLs (as an outside responder): revoked
answers, the CRL fallback, and a cache that never outlives the responder's nextUpdate."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from api.identity.cards import revoke_card
from api.identity.revocation import Status
from api.identity.sandbox_ca import CRL_VALIDITY, OCSP_VALIDITY
from api.platform.db import create_session_factory
from tests.api.identity.conftest import IdentityPortal


async def _card_certificates(identity: IdentityPortal) -> tuple[x509.Certificate, x509.Certificate]:
    card = await identity.card_for(identity.portal.father)
    return (x509.load_der_x509_certificate(card.der("auth_cert")),
            x509.load_der_x509_certificate(card.der("auth_ca_cert")))


async def _revoke_at_the_responder(identity: IdentityPortal) -> None:
    async with create_session_factory(identity.engine)() as session, session.begin():
        await revoke_card(session, identity.portal.father, now=identity.now)


async def test_the_ocsp_responder_reports_a_revoked_card(identity: IdentityPortal) -> None:
    leaf, issuer = await _card_certificates(identity)
    checker = identity.service.revocation
    assert await checker.status(leaf, issuer) is Status.GOOD
    await _revoke_at_the_responder(identity)
    assert await checker.status(leaf, issuer) is Status.REVOKED  # max_age 0: nothing kept
    assert identity.transport.paths == ["/pki/ocsp", "/pki/ocsp"]


async def test_the_crl_reports_a_revoked_card_when_ocsp_is_down(identity: IdentityPortal) -> None:
    leaf, issuer = await _card_certificates(identity)
    await _revoke_at_the_responder(identity)
    identity.transport.down = True
    assert await identity.service.revocation.status(leaf, issuer) is Status.REVOKED
    assert identity.transport.paths == ["/pki/ocsp", "/pki/crl/card-auth.crl"]


async def test_an_ocsp_answer_is_kept_no_longer_than_its_next_update(identity: IdentityPortal) -> None:
    leaf, issuer = await _card_certificates(identity)
    checker = identity.service.revocation
    checker.max_age = dt.timedelta(days=1)  # longer than the responder's 10 minutes
    assert await checker.status(leaf, issuer) is Status.GOOD
    await _revoke_at_the_responder(identity)
    identity.advance(OCSP_VALIDITY.total_seconds() - 1)
    assert checker.cached(leaf, issuer) is Status.GOOD  # within the answer's validity: kept
    identity.advance(1)
    assert checker.cached(leaf, issuer) is None
    assert await checker.status(leaf, issuer) is Status.REVOKED
    assert checker.fetches == 2


async def test_a_crl_is_kept_no_longer_than_its_next_update(identity: IdentityPortal) -> None:
    leaf, issuer = await _card_certificates(identity)
    checker = identity.service.revocation
    checker.max_age = dt.timedelta(days=1)
    checker.sources = ("crl",)
    assert await checker.status(leaf, issuer) is Status.GOOD
    await _revoke_at_the_responder(identity)
    identity.advance(CRL_VALIDITY.total_seconds() - 1)
    checker._statuses.clear()  # only the CRL cache is asked here
    assert await checker.status(leaf, issuer) is Status.GOOD
    assert checker.fetches == 1
    identity.advance(1)
    checker._statuses.clear()
    assert await checker.status(leaf, issuer) is Status.REVOKED
    assert checker.fetches == 2
