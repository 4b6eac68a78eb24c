"""The payment slip: Pay-easy numbers (収納機関番号, 納付番号, 確認番号) and the slip's QR code."""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
from datetime import date

import segno

QR_SCHEME = "MPPAY1"  # our own payload format; versioned so a reader can refuse what it does not know


def payee_number(agency_id: uuid.UUID) -> str:
    """The agency's 5-digit 収納機関番号 (sandbox: derived; the MPN network assigns real ones)."""
    digest = int.from_bytes(hashlib.sha256(agency_id.bytes).digest()[:8], "big")
    return f"{10000 + digest % 90000}"


def new_payment_number() -> str:
    """A random 16-digit 納付番号 (unique in the database; callers retry on a collision)."""
    return f"{secrets.randbelow(10**16):016d}"


def new_confirmation_number() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def qr_payload(*, payee: str, payment_number: str, confirmation: str, amount: int, due: date) -> str:
    # Only the numbers a bank app needs: no name, no individual number, nothing personal.
    return f"{QR_SCHEME}:{payee}:{payment_number}:{confirmation}:{amount}:{due:%Y%m%d}"


def qr_svg(payload: str) -> str:
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="svg", scale=4, xmldecl=False)
    return out.getvalue().decode()
