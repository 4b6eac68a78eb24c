"""The local push service on loopback (hypercorn: TLS, HTTP/2 and http/1.1), for tests that send real Web Push
requests."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hypercorn.asyncio import serve

from push.dev_service import PushServiceState, create_push_service, server_config
from push.dev_tls import ensure_certificate
from tests.served import free_port


@dataclass
class LocalPushService:
    origin: str
    ca_file: Path
    client: httpx.AsyncClient
    state: PushServiceState

    async def subscriptions(self, count: int) -> list[dict[str, Any]]:
        response = await self.client.post("/subscriptions", json={"count": count})
        response.raise_for_status()
        return list(response.json()["subscriptions"])

    async def control(self, mode: str, *, count: int | None = None, retry_after: int = 1, after: int = 0) -> None:
        response = await self.client.post("/control", json={"mode": mode, "count": count,
                                                            "retry_after": retry_after, "after": after})
        response.raise_for_status()

    async def stats(self) -> dict[str, Any]:
        return dict((await self.client.get("/stats")).json())

    async def messages(self) -> list[dict[str, Any]]:
        return list((await self.client.get("/messages")).json()["messages"])


@asynccontextmanager
async def running_push_service(directory: Path, **config_changes: Any) -> AsyncIterator[LocalPushService]:
    """``config_changes``: hypercorn settings to change from ``server_config``'s (e.g. ``alpn_protocols``)."""
    cert, key = ensure_certificate(directory)
    port = free_port()
    origin = f"https://127.0.0.1:{port}"
    app = create_push_service(origin)
    config = server_config("127.0.0.1", port, str(cert), str(key))
    for name, value in config_changes.items():
        setattr(config, name, value)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    while True:  # up once it accepts a connection
        if task.done():
            task.result()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.01)
    context = ssl.create_default_context(cafile=str(cert))
    client = httpx.AsyncClient(base_url=origin, verify=context)
    try:
        yield LocalPushService(origin, cert, client, app.state.push_service)
    finally:
        await client.aclose()
        app.state.push_service.release.set()
        stop.set()
        await task
