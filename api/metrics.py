"""GET /metrics: the request metrics of api.platform.metrics plus figures read from the database at scrape time:
queue depths (the notice outbox, payment callbacks, the record log's sequencer queue), push outcomes by state
and status code, and payments by state.

The database figures are kept for ``FIGURES_SECONDS`` in each worker, so a scrape every few seconds (or
several scrapers) costs the database at most one round of reads a worker per interval. Queue depths are exact
counts of the in-flight rows through the claim indexes (small whatever the history; what alerts watch). Push
outcomes and payment states cover every row ever written: counting them scanned whole tables (about a second
at 10 million deliveries on PostgreSQL, each interval, in each worker), so on PostgreSQL they are estimates
from the planner's statistics (api.platform.estimates: a catalogue read, as fresh as the last ANALYZE, which
autovacuum runs after about a tenth of a table changed). Estimates, not incremental counters: counters kept in
the same transactions as each delivery's and payment's state change would be one hot row every sender
updates, and would need backfilling; not a longer cache either: it would only divide the scans. SQLite (one
machine, development) and a table PostgreSQL has not analyzed yet are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from api.notices.models import Channel, DeliveryState, NoticeDelivery
from api.platform.estimates import estimated_groups
from api.platform.metrics import CONTENT_TYPE, exposition
from api.records.models import LogLeaf
from payments.models import CallbackMessage, CallbackState, Payment

FIGURES_SECONDS = 15.0
IN_FLIGHT = (DeliveryState.PENDING, DeliveryState.SENDING)
# The extended statistics (migration 0034) whose most common values give push outcomes' estimates.
OUTCOME_STATISTICS = "notice_deliveries_outcomes"


async def database_figures(session: AsyncSession) -> list[Metric]:
    depth = GaugeMetricFamily("mynaportal_queue_depth", "Work waiting in a queue (outbox rows not yet done).",
                              labels=["queue", "state"])
    rows = await session.execute(
        select(NoticeDelivery.channel, NoticeDelivery.state, func.count())
        .where(NoticeDelivery.state.in_(IN_FLIGHT)).group_by(NoticeDelivery.channel, NoticeDelivery.state))
    found = {(str(channel), str(state)): count for channel, state, count in rows}
    for channel in Channel:
        for state in IN_FLIGHT:
            depth.add_metric([f"notice_deliveries_{channel.value}", state.value],
                             found.get((channel.value, state.value), 0))
    callbacks = await session.scalar(select(func.count()).select_from(CallbackMessage).where(
        CallbackMessage.state == CallbackState.PENDING))
    depth.add_metric(["payment_callbacks", CallbackState.PENDING.value], callbacks or 0)
    leaves = await session.scalar(select(func.count()).select_from(LogLeaf).where(LogLeaf.leaf_index.is_(None)))
    depth.add_metric(["record_log_sequencer", "pending"], leaves or 0)

    outcomes = GaugeMetricFamily("mynaportal_push_deliveries", "Web Push deliveries by state and the push "
                                 "service's last status code (0: none yet); estimated on PostgreSQL.",
                                 labels=["state", "status_code"])
    for state, code, count in await _push_outcomes(session):
        outcomes.add_metric([state, code], count)

    payments = GaugeMetricFamily("mynaportal_payments", "Payments by state; estimated on PostgreSQL.",
                                 labels=["state"])
    estimated = await estimated_groups(session, Payment.__tablename__, ["state"])
    by_state = sorted(((str(state), count) for (state,), count in estimated.items()) if estimated is not None else
                      ((str(state), count) for state, count in await session.execute(
                          select(Payment.state, func.count()).group_by(Payment.state))))
    for state, count in by_state:
        payments.add_metric([state], count)
    return [depth, outcomes, payments]


async def _push_outcomes(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(state, status code or "0", deliveries) of the Web Push channel, by state and code."""
    estimated = await estimated_groups(session, NoticeDelivery.__tablename__,
                                       ["channel", "state", "last_status_code"], statistics=OUTCOME_STATISTICS)
    if estimated is not None:
        return sorted((str(state), code or "0", count) for (channel, state, code), count in estimated.items()
                      if channel == Channel.WEBPUSH.value)
    return sorted((str(state), str(code or 0), count) for state, code, count in await session.execute(
        select(NoticeDelivery.state, NoticeDelivery.last_status_code, func.count())
        .where(NoticeDelivery.channel == Channel.WEBPUSH)
        .group_by(NoticeDelivery.state, NoticeDelivery.last_status_code)))


def metrics_endpoint(read_factory: async_sessionmaker[AsyncSession],
                     clock: Callable[[], float] = time.monotonic) -> Callable[[Request], object]:
    kept: tuple[float, list[Metric]] = (-FIGURES_SECONDS, [])

    async def metrics(_: Request) -> Response:
        nonlocal kept
        if clock() - kept[0] >= FIGURES_SECONDS:
            async with read_factory() as session:
                kept = (clock(), await database_figures(session))
        return Response(exposition(kept[1]), media_type=CONTENT_TYPE)

    return metrics
