"""Request-size limits: every HTTP body and every WebSocket message, counted before the app sees it.

One pure-ASGI middleware for the whole app. A body whose Content-Length is over the limit is refused before a
byte of it is read; any other body is counted as it streams and refused as soon as it passes the limit, so a
worker never holds more than the limit of one request. The answer is 413: GraphQL-shaped for /graphql (its
clients read ``errors[].extensions.code``), an RFC 9457 problem elsewhere. A WebSocket message over the
limit closes the connection with 1009 (message too big, RFC 6455).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.platform.errors import PROBLEM_MEDIA_TYPE, ErrorCode, PortalError, problem_body

GRAPHQL_PATH = "/graphql"
# Routes that receive other systems' notifications (the payment gateway's webhook).
WEBHOOK_PATHS = ("/payments/gateway/notifications",)
WS_MESSAGE_TOO_BIG = 1009
# Pages that take a file (an application's attachment, up to MYNAPORTAL_MAX_ATTACHMENT_BYTES, plus the envelope).
UPLOAD_PATHS = re.compile(r"/web/applications/[^/]+/attach")
# What a request carrying one attachment holds besides the file: the mutation or form fields, ids, its name.
ATTACHMENT_ENVELOPE = 64 << 10


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def attachment_limits(max_attachment: int, max_body_graphql: int) -> tuple[int, int]:
    """(/graphql's body limit, the upload pages' body limit) that admit one attachment of ``max_attachment``
    bytes on each transport, so a file over it reaches the handler and is refused there with
    ATTACHMENT_TOO_LARGE, whichever the transport, rather than by the edge."""
    return (max(max_body_graphql, base64_length(max_attachment + 1) + ATTACHMENT_ENVELOPE),
            max_attachment + 1 + ATTACHMENT_ENVELOPE)


@dataclass(frozen=True)
class BodyLimits:
    graphql: int
    rest: int
    webhooks: int
    uploads: int = 6 << 20
    # A GraphQL-over-WebSocket message (subscriptions) never carries a file: /graphql's own limit, not the one
    # raised for attachments.
    websocket: int = 1 << 20

    def for_path(self, path: str) -> int:
        if path == GRAPHQL_PATH:
            return self.graphql
        if path in WEBHOOK_PATHS:
            return self.webhooks
        if UPLOAD_PATHS.fullmatch(path):
            return self.uploads
        return self.rest


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.app(scope, self._limited_messages(receive, send, self.limits.websocket), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, send, limit)
            return
        # The whole body is read here (at most ``limit`` bytes) and handed on in one message: a handler that
        # fails half-way through its body cannot leave a half-sent answer.
        try:
            body, rest = await self._read(receive, limit)
        except _TooLarge:
            await self._refuse(scope, send, limit)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive() if rest is None else rest

        await self.app(scope, replay, send)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> tuple[bytes, Message | None]:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: pass that on
                return b"".join(parts), message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts), None

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        message = f"The request body is larger than this endpoint accepts ({limit} bytes)."
        if scope["path"] == GRAPHQL_PATH:
            payload = {"errors": [{"message": message,
                                   "extensions": {"code": ErrorCode.PAYLOAD_TOO_LARGE.value, "limit": limit}}]}
            media_type = "application/json"
        else:
            payload = problem_body(PortalError(ErrorCode.PAYLOAD_TOO_LARGE, message, extensions={"limit": limit}))
            media_type = PROBLEM_MEDIA_TYPE
        content = json.dumps(payload).encode()
        # Connection: close: the rest of the body is never read, so the connection cannot carry another request.
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", media_type.encode()),
                                (b"content-length", str(len(content)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": content})

    @staticmethod
    def _limited_messages(receive: Receive, send: Send, limit: int) -> Receive:
        async def limited() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                raw = text.encode("utf-8", "surrogatepass") if text is not None else message.get("bytes") or b""
                size = len(raw)
                if size > limit:
                    await send({"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG,
                                "reason": "message too big"})
                    return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
            return message

        return limited


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # counted as it streams instead
    return None
