"""Prometheus metrics (prometheus-client): request latency per route, GraphQL latency per operation, shed load.

Labels are bounded: a route is its template (``/corporate/4/num``, ``/payments/{payment_id}``), never the path
sent, ``unmatched`` when no route matched; an operation is a persisted operation's name, else ``other``.

With several workers each process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by
`mynaportal serve --workers N` before the workers start: prometheus-client reads it at import) and /metrics
adds up every worker's files, so one scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # what generate_latest writes (text format 0.0.4)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUEST_SECONDS = Histogram("mynaportal_http_request_duration_seconds", "HTTP request latency, by route template.",
                            ["method", "route", "status"], buckets=BUCKETS)
GRAPHQL_SECONDS = Histogram("mynaportal_graphql_operation_duration_seconds",
                            "GraphQL execution latency, by persisted operation name.", ["operation"], buckets=BUCKETS)
SHED = Counter("mynaportal_requests_shed_total", "Requests answered 503 OVERLOADED by load shedding.")
UNMATCHED = "unmatched"
OTHER_OPERATION = "other"


def route_template(scope: Scope) -> str:
    """The matched route's template, with the mounts it sits under; ``unmatched`` when routing found none."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    return scope.get("root_path", "") + path


class MetricsMiddleware:
    """Times every HTTP request to its last byte; labels it by route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            REQUEST_SECONDS.labels(scope["method"], route_template(scope), str(status)).observe(
                time.perf_counter() - started)


class _Fixed(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def is_multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


def exposition(extra: Iterable[Metric] = ()) -> bytes:
    """The text exposition: this process's (or, in multiprocess mode, every worker's) samples, then ``extra``
    (figures read from the database at scrape time)."""
    if is_multiprocess():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    figures = CollectorRegistry()
    figures.register(_Fixed(extra))
    return body + generate_latest(figures)
