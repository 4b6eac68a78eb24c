"""GET /metrics: the request metrics of api.platform.metrics plus figures read from the database at scrape time:
queue depths (the notice outbox, payment callbacks, the record log's sequencer queue), push outcomes by state
and status code, and payments by state.

The database figures are kept for ``FIGURES_SECONDS`` in each worker, so a scrape every few seconds (or
several scrapers) costs the database at most one round of counts a worker per interval. Queue depths use the
claim indexes; outcomes and payment states count whole tables (about a second at 10 million deliveries on
PostgreSQL): scrape them from one worker, or raise the interval, at national scale.
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
from api.platform.metrics import CONTENT_TYPE, exposition
from api.records.models import LogLeaf
from payments.models import CallbackMessage, CallbackState, Payment

FIGURES_SECONDS = 15.0
IN_FLIGHT = (DeliveryState.PENDING, DeliveryState.SENDING)


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
                                 "service's last status code (0: none yet).", labels=["state", "status_code"])
    for state, code, count in await session.execute(
            select(NoticeDelivery.state, NoticeDelivery.last_status_code, func.count())
            .where(NoticeDelivery.channel == Channel.WEBPUSH)
            .group_by(NoticeDelivery.state, NoticeDelivery.last_status_code)
            .order_by(NoticeDelivery.state, NoticeDelivery.last_status_code)):
        outcomes.add_metric([str(state), str(code or 0)], count)

    payments = GaugeMetricFamily("mynaportal_payments", "Payments by state.", labels=["state"])
    for state, count in await session.execute(
            select(Payment.state, func.count()).group_by(Payment.state).order_by(Payment.state)):
        payments.add_metric([str(state)], count)
    return [depth, outcomes, payments]


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
