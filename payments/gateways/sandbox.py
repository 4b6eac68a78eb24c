"""HTTP client of the sandbox gateway (``mynaportal dev-payment-gateway``); a real PSP's client has this shape.

Requests carry ``Authorization: Bearer <gateway secret>``; creating a session is idempotent on our
``merchant_reference`` (the payment id), refunds on our ``refund_reference``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from payments.gateways.base import GatewayRefund, GatewayRejected, GatewaySession, GatewayUnavailable


class SandboxGateway:
    name = "sandbox"

    def __init__(self, base_url: str, secret: str, *, client: httpx.AsyncClient | None = None,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"authorization": f"Bearer {secret}"}
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, self.base_url + path, headers=self._headers, **kwargs)
        except httpx.HTTPError as error:
            raise GatewayUnavailable(f"gateway unreachable: {type(error).__name__}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise GatewayUnavailable(f"gateway answered {response.status_code}")
        if response.status_code >= 400 and response.status_code != 404:
            body = response.json() if response.headers.get("content-type", "").startswith("application/") else {}
            raise GatewayRejected(str(body.get("code", response.status_code)), str(body.get("detail", "refused")))
        return response

    async def create_session(self, *, merchant: str, merchant_reference: str, amount: int, method: str,
                             description: str, return_url: str, notification_url: str,
                             expires_in: int) -> GatewaySession:
        response = await self._call("POST", "/v1/sessions", json={
            "merchant": merchant, "merchant_reference": merchant_reference, "amount": amount, "currency": "JPY",
            "method": method, "description": description, "return_url": return_url,
            "notification_url": notification_url, "expires_in": expires_in,
        })
        return GatewaySession.from_json(response.json())

    async def get_session(self, reference: str) -> GatewaySession:
        response = await self._call("GET", f"/v1/sessions/{reference}")
        if response.status_code == 404:
            raise GatewayRejected("NOT_FOUND", "no such session")
        return GatewaySession.from_json(response.json())

    async def find_session(self, merchant_reference: str) -> GatewaySession | None:
        response = await self._call("GET", "/v1/sessions", params={"merchant_reference": merchant_reference})
        sessions = response.json()["sessions"]
        return GatewaySession.from_json(sessions[0]) if sessions else None

    async def cancel_session(self, reference: str, *, reason: str = "service") -> GatewaySession:
        response = await self._call("POST", f"/v1/sessions/{reference}/cancel", json={"reason": reason})
        if response.status_code == 404:
            raise GatewayRejected("NOT_FOUND", "no such session")
        return GatewaySession.from_json(response.json())

    async def refund(self, reference: str, *, amount: int, refund_reference: str) -> GatewayRefund:
        response = await self._call("POST", f"/v1/sessions/{reference}/refunds",
                                    json={"amount": amount, "refund_reference": refund_reference})
        if response.status_code == 404:
            raise GatewayRejected("NOT_FOUND", "no such session")
        body = response.json()
        return GatewayRefund(reference=body["id"], state=body["state"])

    async def settlement_file(self, day: date, merchant: str) -> str:
        response = await self._call("GET", f"/v1/settlements/{day.isoformat()}", params={"merchant": merchant})
        return response.text
