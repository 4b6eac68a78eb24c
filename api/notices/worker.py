"""The delivery worker (`mynaportal worker`): run any number of processes against one database.

Each round: fire due reminders (about once a minute), claim a batch of jobs under a lease, send them with
bounded concurrency (Web Push and delivery-service webhooks), write the outcomes back in small batches.
A send holds a permit from its start until its outcome is committed, and there are only ``concurrency +
flush_batch`` permits: a worker killed at any moment has at most that many sent-but-unrecorded jobs (the
ones sent again after the lease), however slow the database is (a stalled flush stops new sends).
A job is never sent once its lease could have run out (so a job taken over by another worker is not
sent by both): it is handed back unsent, claimable at once; a crashed worker's jobs become claimable again
when their lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.agencies.models import Agency
from api.notices.delivery_services import WebhookMessage, send_webhook, signing_secrets, webhook_box
from api.notices.expansion import CHUNK, expand_next
from api.notices.models import (
    Channel,
    DeliveryService,
    DeliveryServiceLink,
    DeliveryState,
    Notice,
    NoticeDelivery,
)
from api.notices.outbox import (
    Job,
    Outcome,
    SendResult,
    claim_jobs,
    finish_jobs,
    push_retry_at,
    webhook_retry_at,
)
from api.notices.reminders import run_due_reminders
from api.notices.webpush import NoticePush, send_notice_push
from api.platform.db import utcnow
from push.h2_client import PushClient
from push.models import PushSubscription, VapidKey
from push.secrets import SecretBox
from push.sender import PushTarget, client_for
from push.subscriptions import forget_expired
from push.vapid import VapidSigner, vapid_box

logger = logging.getLogger("api.notices.worker")
JAPAN = ZoneInfo("Asia/Tokyo")


def japan_today() -> date:
    return datetime.now(JAPAN).date()


@dataclass(frozen=True)
class WorkerConfig:
    data_key: bytes
    vapid_subject: str
    previous_data_keys: tuple[bytes, ...] = ()  # still open secrets at rest during a rotation of the data key
    ca_file: str | None = None
    allow_private_destinations: bool = False
    batch: int = 200
    concurrency: int = 32
    lease: timedelta = timedelta(seconds=60)
    request_timeout: float = 10.0
    idle_sleep: float = 0.5
    flush_every: float = 0.05
    flush_batch: int = 64  # outcomes written at once; also the most awaiting a write beyond the sends in flight
    reminder_interval: float = 60.0
    expansion_chunk: int = CHUNK
    http2: bool = True  # push services over HTTP/2 (PushClient: one connection each; HTTP/1.1 where not offered)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()[:30]}:{os.getpid()}:"
                                                   f"{uuid.uuid4().hex[:8]}")


@dataclass
class WorkerStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    reminders: int = 0
    expanded: int = 0  # recipients written by expanding segments' notices


class Worker:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], config: WorkerConfig, *,
                 client: httpx.AsyncClient | None = None, today: Callable[[], date] = japan_today) -> None:
        self.session_factory = session_factory
        self.config = config
        self.client = client
        self.today = today
        self.signer = VapidSigner(subject=config.vapid_subject)
        self.vapid_box: SecretBox = vapid_box(config.data_key, config.previous_data_keys)
        self.webhook_box: SecretBox = webhook_box(config.data_key, config.previous_data_keys)
        self.stats = WorkerStats()
        self._last_reminders = 0.0
        self._pending: list[Outcome] = []
        self._gone: list[uuid.UUID] = []
        # Sends in flight plus outcomes not yet committed: what a SIGKILL can make the next worker send again.
        self._unsettled = asyncio.Semaphore(config.concurrency + config.flush_batch)
        self._flush_now = asyncio.Event()

    async def run(self, stop: asyncio.Event, *, exit_when_idle: bool = False) -> WorkerStats:
        own_client = self.client is None
        # httpx for webhooks and for push services without HTTP/2; PushClient (one h2 connection per push
        # service, a fraction of httpx's CPU per message) for the others.
        client = self.client or client_for(self.config.ca_file, timeout=self.config.request_timeout,
                                           connections=self.config.concurrency, http2=False)
        pusher = PushClient(self.config.ca_file, timeout=self.config.request_timeout,
                            fallback=client) if self.config.http2 else client
        expanding = asyncio.create_task(self._expand(stop))
        try:
            while not stop.is_set():
                if expanding.done() and not exit_when_idle:  # look again for newly published segments
                    expanding = asyncio.create_task(self._expand(stop))
                await self._maybe_run_reminders()
                worked = await self.run_once(client, pusher)
                if not worked:
                    if exit_when_idle and expanding.done():
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.config.idle_sleep)
        finally:
            expanding.cancel()  # a chunk cut short rolls back whole; the next expander writes it again
            with contextlib.suppress(asyncio.CancelledError):
                await expanding
            if pusher is not client:
                await pusher.aclose()
            if own_client:
                await client.aclose()
        return self.stats

    async def _expand(self, stop: asyncio.Event) -> None:
        """Expand segments' notices beside the sending, so their first jobs are sent while later ones are
        written; ends when nothing is left to expand (the run loop starts it again each round)."""
        while not stop.is_set():
            try:
                chunk = await expand_next(self.session_factory, chunk=self.config.expansion_chunk)
            except Exception:  # the chunk rolled back; its notice is retried next time
                logger.exception("notice expansion failed; retrying")
                chunk = None
            if chunk is not None:
                self.stats.expanded += chunk.written
                continue
            return

    async def _maybe_run_reminders(self) -> None:
        if time.monotonic() - self._last_reminders < self.config.reminder_interval:
            return
        self._last_reminders = time.monotonic()
        async with self.session_factory() as session, session.begin():
            fired = await run_due_reminders(session, now=utcnow(), today=self.today())
        self.stats.reminders += len(fired)

    async def run_once(self, client: httpx.AsyncClient, pusher: PushClient | httpx.AsyncClient | None = None) -> int:
        """Claim and process one batch (Web Push through ``pusher``, else ``client``); returns how many jobs were
        claimed."""
        claimed_at = utcnow()
        async with self.session_factory() as session, session.begin():
            jobs = await claim_jobs(session, self.config.worker_id, limit=self.config.batch,
                                    lease=self.config.lease, now=claimed_at)
        if not jobs:
            return 0
        self.stats.claimed += len(jobs)
        # Stop starting sends while a request could still finish before the lease ends.
        deadline = time.monotonic() + self.config.lease.total_seconds() - self.config.request_timeout - 1
        messages = await self._load(jobs)
        semaphore = asyncio.Semaphore(self.config.concurrency)
        done = asyncio.Event()
        flusher = asyncio.create_task(self._flush_periodically(done))

        async def process(job: Job) -> None:
            await self._unsettled.acquire()  # released by the flush that commits the outcome
            outcome = None
            try:
                async with semaphore:
                    if time.monotonic() > deadline:  # not sent: handed back at once, its attempt not counted
                        outcome = Outcome(job.id, DeliveryState.PENDING, error="not sent before the lease ran low",
                                          retry_at=utcnow(), unsent=True)
                    else:
                        outcome = await self._deliver(client, pusher or client, job, messages.get(job.id))
                # Append after the await: the flusher swaps the list meanwhile.
                self._pending.append(outcome)
                if len(self._pending) >= self.config.flush_batch:
                    self._flush_now.set()
            finally:
                if outcome is None:
                    self._unsettled.release()

        try:
            await asyncio.gather(*(process(job) for job in jobs))
        finally:
            # Never cancel a flush mid-transaction: let the flusher finish its round, then write the rest.
            done.set()
            self._flush_now.set()
            await flusher
            await self._flush()
        return len(jobs)

    async def _flush_periodically(self, done: asyncio.Event) -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.config.flush_every)
            self._flush_now.clear()
            try:
                await self._flush()
            except Exception:  # the outcomes stay queued for the next flush; the leases protect the jobs
                logger.exception("could not write delivery outcomes; retrying")

    async def _flush(self) -> None:
        if not self._pending and not self._gone:
            return
        outcomes, self._pending = self._pending, []
        gone, self._gone = self._gone, []
        try:
            async with self.session_factory() as session, session.begin():
                await finish_jobs(session, self.config.worker_id, outcomes, now=utcnow())
                if gone:
                    await forget_expired(session, gone)
        except BaseException:
            self._pending[:0], self._gone[:0] = outcomes, gone  # written by the next flush
            raise
        for _ in outcomes:
            self._unsettled.release()

    async def _load(self, jobs: list[Job]) -> dict[int, NoticePush | WebhookMessage]:
        notice_ids = {job.notice_id for job in jobs}
        push_ids = [job.target_id for job in jobs if job.channel is Channel.WEBPUSH]
        link_ids = [job.target_id for job in jobs if job.channel is Channel.WEBHOOK]
        async with self.session_factory() as session:
            notices = {n.id: n for n in await session.scalars(select(Notice).where(Notice.id.in_(notice_ids)))}
            # Plain rows, not ORM objects: a batch names up to ``batch`` subscriptions (one notice, many).
            subscriptions = {row.id: PushTarget(row.endpoint, row.p256dh, row.auth, row.vapid_generation)
                             for row in await session.execute(select(
                                 PushSubscription.id, PushSubscription.endpoint, PushSubscription.p256dh,
                                 PushSubscription.auth, PushSubscription.vapid_generation)
                                 .where(PushSubscription.id.in_(push_ids)))} if push_ids else {}
            for generation in {t.vapid_generation for t in subscriptions.values()} - set(self.signer.keys):
                self.signer.load(await session.get_one(VapidKey, generation), self.vapid_box)
            links: dict[uuid.UUID, tuple[DeliveryServiceLink, DeliveryService]] = {}
            agencies: dict[uuid.UUID, str] = {}
            offers: dict[int, bytes] = {}
            if link_ids:
                offers = dict((await session.execute(select(NoticeDelivery.id, NoticeDelivery.payload_ciphertext).where(
                    NoticeDelivery.id.in_([job.id for job in jobs if job.channel is Channel.WEBHOOK]),
                    NoticeDelivery.payload_ciphertext.is_not(None)))).all())
                rows = await session.execute(select(DeliveryServiceLink, DeliveryService).join(
                    DeliveryService, DeliveryService.id == DeliveryServiceLink.service_id)
                    .where(DeliveryServiceLink.id.in_(link_ids)))
                links = {link.id: (link, service) for link, service in rows}
                agencies = dict((await session.execute(select(Agency.id, Agency.name).where(
                    Agency.id.in_({n.agency_id for n in notices.values()})))).all())
        messages: dict[int, NoticePush | WebhookMessage] = {}
        for job in jobs:
            notice = notices[job.notice_id]
            if job.channel is Channel.WEBPUSH and (target := subscriptions.get(job.target_id)) is not None:
                messages[job.id] = NoticePush(notice.id, notice.category, notice.priority, notice.expires_at,
                                              target)
            elif job.channel is Channel.WEBHOOK and (found := links.get(job.target_id)) is not None:
                link, service = found
                offered = json.loads(self.webhook_box.open(offers[job.id])) if job.id in offers else None
                messages[job.id] = WebhookMessage(notice, agencies.get(notice.agency_id, ""), link.id,
                                                  link.account_reference, service.webhook_url,
                                                  signing_secrets(service, utcnow()), offered)
        return messages

    async def _deliver(self, client: httpx.AsyncClient, pusher: PushClient | httpx.AsyncClient, job: Job,
                       message: NoticePush | WebhookMessage | None) -> Outcome:
        now = utcnow()
        if message is None:
            self.stats.failed += 1
            return Outcome(job.id, DeliveryState.PERMANENT_FAILURE, error="the device or link no longer exists")
        expires_at = message.expires_at if isinstance(message, NoticePush) else message.notice.expires_at
        if expires_at is not None and expires_at <= now:
            self.stats.failed += 1
            return Outcome(job.id, DeliveryState.EXPIRED, error="the notice expired before it was sent")
        try:
            if isinstance(message, NoticePush):
                result = await send_notice_push(pusher, self.signer, message, now=now)
            else:
                result = await send_webhook(client, self.webhook_box, message, now=now,
                                            allow_private=self.config.allow_private_destinations)
        except Exception as error:  # a bug must not stop the batch; the job is retried, the log tells why
            logger.exception("delivery %s failed unexpectedly", job.id)
            result = SendResult(DeliveryState.PENDING, None, error=f"internal: {type(error).__name__}")
        return self._outcome(job, result, now)

    def _outcome(self, job: Job, result: SendResult, now: datetime) -> Outcome:
        if result.state is DeliveryState.DELIVERED:
            self.stats.delivered += 1
            return Outcome(job.id, DeliveryState.DELIVERED, result.status_code)
        if result.state is DeliveryState.PENDING:
            retry_at = (push_retry_at(job.attempts, now, result.retry_after) if job.channel is Channel.WEBPUSH
                        else webhook_retry_at(job.attempts, now))
            if retry_at is not None:
                if result.retry_after is not None:  # never sooner than the receiver asked
                    retry_at = max(retry_at, now + result.retry_after)
                self.stats.retried += 1
                return Outcome(job.id, DeliveryState.PENDING, result.status_code, result.error, retry_at)
            self.stats.failed += 1
            return Outcome(job.id, DeliveryState.TEMPORARY_FAILURE, result.status_code, result.error)
        if result.subscription_gone:
            self._gone.append(job.target_id)
        self.stats.failed += 1
        return Outcome(job.id, result.state, result.status_code, result.error)
