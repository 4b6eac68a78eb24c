from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.people.individual_number import IndividualNumberCipher
from api.platform.errors import PortalError
from push.models import PushSubscription, VapidKey
from push.vapid import VapidSigner, audience_of, b64url_decode, current_key, retire_key, rotate_key, vapid_box
from tests.conftest import TEST_DATA_KEY
from tests.factories import individual_number, make_municipality, make_person

NOW = 1_780_000_000.0


async def test_the_first_key_is_made_once_and_rotation_keeps_the_old_one(session: AsyncSession) -> None:
    box = vapid_box(TEST_DATA_KEY)
    first = await current_key(session, box)
    assert (await current_key(session, box)).public_key == first.public_key
    second = await rotate_key(session, box)
    assert (first.generation, second.generation) == (1, 2)
    assert (await current_key(session, box)).generation == 2
    signer = VapidSigner(subject="mailto:push@example.jp")
    signer.load(first, box)
    signer.load(second, box)
    old = signer.header(1, "https://push.example/x", now=NOW)
    token, key = (part.split("=", 1)[1] for part in old.removeprefix("vapid ").split(", "))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="https://push.example",
                        options={"verify_exp": False})
    assert key == first.public_key and claims["sub"] == "mailto:push@example.jp"
    assert claims["exp"] == int(NOW) + 12 * 3600


async def test_one_header_per_audience_until_near_expiry(session: AsyncSession) -> None:
    box = vapid_box(TEST_DATA_KEY)
    signer = VapidSigner(subject="mailto:push@example.jp")
    signer.load(await current_key(session, box), box)
    first = signer.header(1, "https://push.example/a", now=NOW)
    assert signer.header(1, "https://push.example/b", now=NOW + 60) == first
    assert signer.header(1, "https://other.example/a", now=NOW) != first
    assert signer.header(1, "https://push.example/a", now=NOW + 11 * 3600 + 1) != first


def test_the_audience_is_the_origin_with_its_port() -> None:
    assert audience_of("https://127.0.0.1:8443/push/x") == "https://127.0.0.1:8443"
    assert audience_of("https://fcm.googleapis.com:443/fcm/send/x") == "https://fcm.googleapis.com"


def test_the_signer_s_audience_of_an_endpoint_is_its_origin() -> None:
    signer = VapidSigner(subject="mailto:push@example.jp")
    assert signer.audience("https://127.0.0.1:8443/push/x") == "https://127.0.0.1:8443"
    assert signer.audience("https://127.0.0.1:8443/push/y") == "https://127.0.0.1:8443"
    assert signer.audience("https://FCM.googleapis.com:443/fcm/send/x") == "https://fcm.googleapis.com"
    assert signer.audience("https://push.example") == "https://push.example"
    assert signer._audiences == {"https://127.0.0.1:8443": "https://127.0.0.1:8443",
                                 "https://FCM.googleapis.com:443": "https://fcm.googleapis.com",
                                 "https://push.example": "https://push.example"}


async def test_an_old_generation_is_retired_only_once_no_subscription_uses_it(
    session: AsyncSession, cipher: IndividualNumberCipher
) -> None:
    box = vapid_box(TEST_DATA_KEY)
    await current_key(session, box)
    await rotate_key(session, box)
    await make_municipality(session)
    person = await make_person(session, cipher, number=individual_number("62149832025"))
    subscription = PushSubscription(person_id=person.id, endpoint="https://push.example/1", p256dh="p", auth="a",
                                    vapid_generation=1, device_label="phone")
    session.add(subscription)
    await session.flush()
    for generation, code in ((1, "KEY_GENERATION_IN_USE"), (2, "KEY_GENERATION_IN_USE"), (3, "KEY_GENERATION_UNKNOWN")):
        with pytest.raises(PortalError) as raised:
            await retire_key(session, generation)
        assert raised.value.code == code
    await session.delete(subscription)  # the device subscribed again with generation 2
    await session.flush()
    await retire_key(session, 1)
    assert list(await session.scalars(select(VapidKey.generation))) == [2]
