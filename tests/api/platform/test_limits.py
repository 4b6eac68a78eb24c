from __future__ import annotations

import json
from typing import Any

import pytest

from api.platform.limits import BodyLimitMiddleware, BodyLimits, attachment_limits

LIMITS = BodyLimits(graphql=1000, rest=500, webhooks=300, uploads=2000)


class Echo:
    """An app that reads its whole body and answers its length; records what it received."""

    def __init__(self) -> None:
        self.calls = 0
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def post(path: str, chunks: list[bytes], *, declared: int | None = None) -> tuple[Echo, int, dict, bytes, int]:
    """(app, status, headers, answer, chunks the client still had unread)."""
    app = Echo()
    messages = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
                for index, chunk in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-length", str(declared).encode())] if declared is not None else []
    await BodyLimitMiddleware(app, LIMITS)({"type": "http", "path": path, "headers": headers}, receive, send)
    start, *bodies = sent
    return app, start["status"], dict(start["headers"]), b"".join(b.get("body", b"") for b in bodies), len(messages)


@pytest.mark.parametrize(("path", "limit"), [("/graphql", 1000), ("/payments/v1/orders", 500),
                                             ("/payments/gateway/notifications", 300), ("/oauth/token", 500),
                                             ("/web/applications/7f3c/attach", 2000), ("/web/applications", 500)])
async def test_a_body_at_the_limit_passes_whole_and_one_byte_more_is_refused(path: str, limit: int) -> None:
    app, status, _, answer, _ = await post(path, [b"x" * (limit - 10), b"y" * 10])
    assert (status, answer, app.bodies) == (200, str(limit).encode(), [b"x" * (limit - 10) + b"y" * 10])
    app, status, _, _, unread = await post(path, [b"x" * (limit - 10), b"y" * 11, b"z" * 10_000])
    assert (status, app.calls, unread) == (413, 0, 1)  # refused as soon as it passed the limit


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    app, status, headers, answer, unread = await post("/payments/v1/orders", [b"x" * 10] * 3, declared=10 << 20)
    assert (status, app.calls, unread) == (413, 0, 3)
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"connection"] == b"close"
    assert json.loads(answer) == {
        "type": "https://mynaportal.example/problems/payload-too-large", "title": "Payload too large",
        "status": 413, "detail": "The request body is larger than this endpoint accepts (500 bytes).",
        "code": "PAYLOAD_TOO_LARGE", "limit": 500}


async def test_graphql_gets_a_graphql_shaped_refusal() -> None:
    _, status, headers, answer, _ = await post("/graphql", [b"{}"], declared=1001)
    assert (status, headers[b"content-type"]) == (413, b"application/json")
    assert json.loads(answer) == {"errors": [{
        "message": "The request body is larger than this endpoint accepts (1000 bytes).",
        "extensions": {"code": "PAYLOAD_TOO_LARGE", "limit": 1000}}]}


async def test_a_lying_content_length_is_still_counted() -> None:
    app, status, _, _, _ = await post("/graphql", [b"x" * 600, b"x" * 600], declared=10)
    assert (status, app.calls) == (413, 0)


async def test_a_websocket_message_over_the_limit_closes_the_connection() -> None:
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "é" * 500},  # 1000 bytes
                {"type": "websocket.receive", "text": "é" * 501}, {"type": "websocket.receive", "text": "late"}]
    sent: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "websocket.disconnect":
                return

    # /graphql's HTTP limit is raised for attachments; a subscription's message keeps the WebSocket limit.
    limits = BodyLimits(graphql=5000, rest=500, webhooks=300, uploads=2000, websocket=1000)
    await BodyLimitMiddleware(app, limits)({"type": "websocket", "path": "/graphql", "headers": []}, receive, send)
    assert [m["type"] for m in seen] == ["websocket.connect", "websocket.receive", "websocket.disconnect"]
    assert sent == [{"type": "websocket.close", "code": 1009, "reason": "message too big"}]


def test_the_attachment_limit_sets_the_graphql_and_upload_body_limits() -> None:
    # 5 MiB + 1 byte as base64 (6,990,508 characters) and the envelope fit, so the handler names the refusal.
    assert attachment_limits(5 << 20, 1 << 20) == (6_990_508 + 65_536, (5 << 20) + 1 + 65_536)
    assert attachment_limits(1024, 1 << 20) == (1 << 20, 1025 + 65_536)  # GraphQL's own limit is larger
