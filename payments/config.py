"""Building the gateway and URLs from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api.platform.settings import Settings
from payments.gateways.sandbox import SandboxGateway
from payments.service import Urls


@asynccontextmanager
async def gateway_for(settings: Settings) -> AsyncIterator[SandboxGateway]:
    # One client per unit of work: a client must not outlive the event loop that made it.
    gateway = SandboxGateway(settings.payment_gateway_url, settings.payment_gateway_secret)
    try:
        yield gateway
    finally:
        await gateway.aclose()


def urls_for(settings: Settings, *, to_web: bool = False) -> Urls:
    return Urls(public_url=settings.public_url, to_web=to_web)
