"""Signature verification: today's RSA cards, the phone's P-256 key, next-generation cards' P-384 raw r || s."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from api.identity.cards import issue_virtual_card
from api.identity.sandbox_ca import SandboxCA
from api.identity.verification import Usage, verify_signature
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from tests.api.identity.conftest import IdentityPortal
from tests.api.identity.test_login import VIEWER


def raw_p384(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """What a next-generation card returns: ECDSA P-384 over SHA-384 as r || s, 48 bytes each."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


def test_a_p384_raw_signature_verifies_and_a_wrong_one_does_not(sandbox_ca: SandboxCA) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = sandbox_ca.issue("card-auth", key.public_key())
    signature = raw_p384(key, b"challenge")
    verify_signature(cert, b"challenge", signature)
    refused = [
        (b"another challenge", signature),
        (b"challenge", signature[:48] + bytes(48)),
        (b"challenge", signature[:95]),  # not 96 bytes
        (b"challenge", key.sign(b"challenge", ec.ECDSA(hashes.SHA384()))),  # DER is not what the card sends
        (b"challenge", raw_p384(ec.generate_private_key(ec.SECP384R1()), b"challenge")),
    ]
    for message, bad in refused:
        with pytest.raises(PortalError) as raised:
            verify_signature(cert, message, bad)
        assert raised.value.code == "SIGNATURE_INVALID"


def test_a_p384_signature_over_sha256_is_refused(sandbox_ca: SandboxCA) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = sandbox_ca.issue("card-auth", key.public_key())
    r, s = decode_dss_signature(key.sign(b"challenge", ec.ECDSA(hashes.SHA256())))
    with pytest.raises(PortalError, match="does not match"):
        verify_signature(cert, b"challenge", r.to_bytes(48, "big") + s.to_bytes(48, "big"))


async def test_a_next_generation_card_logs_in_with_p384(identity: IdentityPortal) -> None:
    async with create_session_factory(identity.engine)() as session, session.begin():
        _, card = await issue_virtual_card(session, identity.ca, identity.cipher, identity.portal.father,
                                           next_generation=True)
    assert isinstance(card.auth_key, ec.EllipticCurvePrivateKey) and card.auth_key.curve.name == "secp384r1"
    challenge = await identity.challenge()
    signature = raw_p384(card.auth_key, base64.b64decode(challenge["toBeSigned"]))
    der = card.auth_certificate.public_bytes(serialization.Encoding.DER)
    done = await identity.complete(challenge, der, [], signature)
    token = done["data"]["completeCardLogin"]["accessToken"]
    assert (await identity.portal.query(VIEWER, token=token))["data"] == {"viewer": {"name": "山田 太郎"}}


async def test_a_checked_path_is_kept_but_its_dates_and_usage_are_checked_each_time(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    chains = identity.service.chains
    leaf, chain = card.der("sign_cert"), [card.der("sign_ca_cert")]
    now = identity.now
    first = chains.check(leaf, chain, Usage.SIGNATURE, now)
    assert chains.check(leaf, list(chain), Usage.SIGNATURE, now) is first  # the same bytes: nothing parsed again
    expiry = first.leaf.not_valid_after_utc
    with pytest.raises(PortalError) as expired:
        chains.check(leaf, chain, Usage.SIGNATURE, expiry + dt.timedelta(seconds=1))
    assert expired.value.code == "CERTIFICATE_EXPIRED"
    with pytest.raises(PortalError) as usage:  # kept per usage: the signing path is no login path
        chains.check(leaf, chain, Usage.AUTHENTICATION, now)
    assert usage.value.code == "CERTIFICATE_USAGE_INVALID"
