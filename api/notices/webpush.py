"""A notice as a Web Push message: a tiny, impersonal payload (the app fetches the notice itself over
GraphQL), its Urgency (high for disasters), TTL (from the notice's expiry) and Topic (the notice id, so a push
service replaces an undelivered duplicate of the same notice), and what the push service's answer means for
the delivery."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx

from api.notices.models import Category, DeliveryState, Priority
from api.notices.outbox import SendResult
from push.h2_client import PushClient
from push.sender import PushTarget, Urgency, Verdict, send_push, ttl_until
from push.vapid import VapidSigner

_STATES = {Verdict.ACCEPTED: DeliveryState.DELIVERED, Verdict.RETRY: DeliveryState.PENDING,
           Verdict.GONE: DeliveryState.PERMANENT_FAILURE, Verdict.REFUSED: DeliveryState.TECHNICAL_FAILURE}


@dataclass(frozen=True)
class NoticePush:
    notice_id: uuid.UUID
    category: Category
    priority: Priority
    expires_at: datetime | None
    target: PushTarget


def payload_of(message: NoticePush) -> bytes:
    return json.dumps({"v": 1, "notice": str(message.notice_id), "category": message.category.value},
                      separators=(",", ":")).encode()


def urgency_of(message: NoticePush) -> Urgency:
    if message.category is Category.DISASTER or message.priority is Priority.HIGH:
        return "high"
    return "low" if message.priority is Priority.LOW else "normal"


def topic_of(notice_id: uuid.UUID) -> str:
    return notice_id.hex  # 32 characters of the base64url alphabet, as RFC 8030 §5.4 allows


async def send_notice_push(client: PushClient | httpx.AsyncClient, signer: VapidSigner, message: NoticePush, *,
                           now: datetime) -> SendResult:
    result = await send_push(client, signer, message.target, payload_of(message),
                             ttl=ttl_until(message.expires_at, now), urgency=urgency_of(message),
                             topic=topic_of(message.notice_id), now=now)
    return SendResult(_STATES[result.verdict], result.status_code, result.retry_after, result.error,
                      subscription_gone=result.verdict is Verdict.GONE)
