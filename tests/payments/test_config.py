"""Payment settings: production refuses the demo gateway secret and callback key."""

from __future__ import annotations

import base64
import uuid

import pytest

from api.platform.settings import Settings, SettingsError
from payments.config import urls_for
from tests.conftest import make_settings

KEYS = {"MYNAPORTAL_ENV": "production", "MYNAPORTAL_DATA_KEY": base64.b64encode(bytes(range(32))).decode(),
        "MYNAPORTAL_LOOKUP_KEY": base64.b64encode(bytes(range(1, 33))).decode()}


@pytest.mark.parametrize("name", ["MYNAPORTAL_PAYMENT_GATEWAY_SECRET", "MYNAPORTAL_PAYMENT_CALLBACK_KEY"])
def test_production_refuses_missing_or_demo_payment_secrets(name: str) -> None:
    for value in (None, "demo:sandbox-payment-gateway"):
        env = {**KEYS, "MYNAPORTAL_PAYMENT_GATEWAY_SECRET": "g" * 20, "MYNAPORTAL_PAYMENT_CALLBACK_KEY": "c" * 20}
        env.pop(name) if value is None else env.update({name: value})
        with pytest.raises(SettingsError) as error:
            Settings.from_env(env)
        assert f"{name} is required in production and must not be a demo key" in str(error.value)


def test_development_has_working_demo_values() -> None:
    settings = Settings.from_env({"MYNAPORTAL_PAYMENT_SESSION_TTL": "600"})
    assert settings.payment_gateway_url == "http://127.0.0.1:8765"
    assert settings.payment_session_ttl.total_seconds() == 600
    assert settings.payment_gateway_secret.startswith("demo:")


async def test_gateway_client_is_kept_per_event_loop_and_closed_at_shutdown() -> None:
    from payments.config import close_gateways, gateway_for

    settings = Settings.from_env({})
    async with gateway_for(settings) as first, gateway_for(settings) as second:
        assert first._client is second._client  # one pool: no CA store load or new connection per unit of work
    client = first._client
    await close_gateways()
    assert client.is_closed
    async with gateway_for(settings) as third:
        assert third._client is not client and not third._client.is_closed
    await close_gateways()


def test_a_payment_started_on_the_web_portal_returns_there() -> None:
    payment_id = uuid.UUID(int=7)
    settings = make_settings(public_url="http://portal.test")
    assert urls_for(settings).return_url(payment_id) == f"http://portal.test/payments/return/{payment_id}"
    assert urls_for(settings, to_web=True).return_url(payment_id) == \
        f"http://portal.test/payments/return/{payment_id}?to=web"
