"""Building the gateway and URLs from settings."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api.platform.settings import Settings
from payments.gateways.sandbox import SandboxGateway
from payments.service import Urls

# One pooled client per event loop and gateway, kept for the loop's life: building an httpx client loads the
# CA store (ssl.create_default_context, ~30 ms of CPU) and a fresh client opens a fresh connection, which was
# a third of the portal's CPU per payment (py-spy, tests/benchmarks/bench_payments.py). A client must not
# outlive the event loop that made it, hence the key; the app's lifespan closes them (close_gateways).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary())
GATEWAY_CONNECTIONS = 50


def _client(base_url: str) -> httpx.AsyncClient:
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    client = clients.get(base_url)
    if client is None or client.is_closed:
        client = clients[base_url] = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(
            max_connections=GATEWAY_CONNECTIONS, max_keepalive_connections=GATEWAY_CONNECTIONS))
    return client


@asynccontextmanager
async def gateway_for(settings: Settings) -> AsyncIterator[SandboxGateway]:
    yield SandboxGateway(settings.payment_gateway_url, settings.payment_gateway_secret,
                         client=_client(settings.payment_gateway_url))


async def close_gateways() -> None:
    """Close this event loop's gateway clients (the app's shutdown)."""
    for client in _CLIENTS.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()


def urls_for(settings: Settings, *, to_web: bool = False) -> Urls:
    return Urls(public_url=settings.public_url, to_web=to_web)
