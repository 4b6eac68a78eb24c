"""Load shedding: past a configured number of requests in progress, a worker answers 503 with Retry-After at
once instead of queueing.

On a deadline day (tax, 現況届) a queue that grows faster than it drains makes every request wait until it
times out, the ones that could have been served included; a prompt 503 keeps the served ones fast and tells
clients (and load balancers) when to come back. Counted per worker (`MYNAPORTAL_MAX_CONCURRENCY`, 0: off):
the limit protects this process's event loop and its connection pool, which are per process. Health checks
and /metrics are never shed (a shed health check would take a busy worker out of rotation); WebSockets are
long-lived subscriptions, limited elsewhere, and not counted.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from api.platform.errors import PROBLEM_MEDIA_TYPE, ErrorCode, PortalError, problem_body
from api.platform.metrics import SHED

GRAPHQL_PATH = "/graphql"
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_SECONDS = 1


class LoadSheddingMiddleware:
    def __init__(self, app: ASGIApp, max_concurrency: int, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        self.app = app
        self.max_concurrency = max_concurrency
        self.retry_after = retry_after
        self.in_progress = 0  # one event loop per worker: a plain counter is exact
        self.shed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_concurrency <= 0 or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.max_concurrency:
            self.shed += 1
            SHED.inc()
            await self._refuse(scope, send)
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1

    async def _refuse(self, scope: Scope, send: Send) -> None:
        message = "The portal is busy; retry after the time in Retry-After."
        extensions = {"retryAfter": self.retry_after}
        if scope["path"] == GRAPHQL_PATH:  # GraphQL clients read errors[].extensions.code
            payload: dict = {"errors": [{"message": message,
                                         "extensions": {"code": ErrorCode.OVERLOADED.value, **extensions}}]}
            media_type = "application/json"
        else:
            payload = problem_body(PortalError(ErrorCode.OVERLOADED, message, extensions=extensions))
            media_type = PROBLEM_MEDIA_TYPE
        content = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", media_type.encode()),
                                (b"content-length", str(len(content)).encode()),
                                (b"retry-after", str(self.retry_after).encode())]})
        await send({"type": "http.response.body", "body": content})
