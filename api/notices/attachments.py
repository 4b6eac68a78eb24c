"""What an attachment may point at: only the publishing agency's own records.

A ``payment-slip`` attachment names a payment order by its global id (``PaymentOrder:<uuid>`` in base64). The
payments domain is a neighbour that this package does not import, so its table is named here as SQL; a
reference to another agency's order gets the same answer as one to no order at all, so it reveals nothing.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import Uuid, column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from api.platform.errors import PortalError

PAYMENT_SLIP = "payment-slip"
_PAYMENT_ORDERS = table("payment_orders", column("id", Uuid), column("agency_id", Uuid))


class Attachment(Protocol):
    kind: str
    reference: str


def payment_order_id(reference: str) -> uuid.UUID | None:
    """The order id inside a ``PaymentOrder`` global id; None for anything else."""
    try:
        type_name, _, raw = base64.b64decode(reference, validate=True).decode().partition(":")
        return uuid.UUID(raw) if type_name == "PaymentOrder" else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


async def check_references(session: AsyncSession, agency_id: uuid.UUID, attachments: Iterable[Attachment]) -> None:
    """Refuse (NOT_FOUND) a payment slip that is not one of this agency's orders."""
    slips = [a.reference for a in attachments if a.kind == PAYMENT_SLIP]
    if not slips:
        return
    order_ids = {payment_order_id(reference) for reference in slips}
    owned = 0
    if None not in order_ids:
        owned = await session.scalar(select(func.count()).select_from(_PAYMENT_ORDERS).where(
            _PAYMENT_ORDERS.c.id.in_(order_ids), _PAYMENT_ORDERS.c.agency_id == agency_id)) or 0
    if owned != len(order_ids):
        raise PortalError("NOT_FOUND", "A payment slip names no payment order of your agency.")
