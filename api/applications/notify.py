"""The notice (and its push) the person gets on every move of their application, from the municipality."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.applications.catalogue import catalogue
from api.applications.models import (
    COMPLETED,
    CORRECTION_REQUESTED,
    RECEIVED,
    REJECTED,
    REVIEWING,
    WITHDRAWN,
    Application,
    PublicBenefitAccount,
)
from api.notices.models import Audience, Category, Priority
from api.notices.service import NewNotice
from api.notices.to_person import publish_to_person

TITLES = {
    RECEIVED: "申請を受け付けました",
    REVIEWING: "申請の審査を始めました",
    CORRECTION_REQUESTED: "申請の補正をお願いします",
    COMPLETED: "申請の手続が完了しました",
    REJECTED: "申請を却下しました",
    WITHDRAWN: "申請の取下げを受け付けました",
}
LABELS = {"draft": "下書き", RECEIVED: "受付", REVIEWING: "審査中", CORRECTION_REQUESTED: "補正依頼",
          COMPLETED: "完了", REJECTED: "却下", WITHDRAWN: "取下げ"}


def masked_account(account: PublicBenefitAccount) -> str:
    return f"金融機関コード{account.bank_code} 支店{account.branch_code} 口座番号****{account.account_number[-3:]}"


async def notify_move(session: AsyncSession, application: Application, agency_id: uuid.UUID, event_id: uuid.UUID,
                      to_status: str, note: str | None, *, now: datetime) -> None:
    """``application`` as moved (its reception number and form) and its municipality's agency, which sends the
    notice to the applicant (known by id: the lean path, no code to map); in the caller's transaction."""
    proc = catalogue().procedures[application.procedure_code]
    body = [f"{proc.name}（受付番号 {application.reception_number}）: {LABELS[to_status]}"]
    if note:
        body.append(note)
    if to_status == COMPLETED and application.form.get("payTo", {}).get("usePublicBenefitAccount"):
        account = await session.get(PublicBenefitAccount, application.applicant_person_id)
        if account is not None:
            body.append("振込先: 公金受取口座（" + masked_account(account) + "）")
    if to_status == CORRECTION_REQUESTED:
        body.append("内容を直して、もう一度カードで署名して送ってください。")
    await publish_to_person(session, agency_id, application.applicant_person_id, NewNotice(
        audience=Audience.PERSON, category=Category.CHILD_REARING if proc.category != "maternal_child_health"
        else Category.HEALTH, title=f"{TITLES[to_status]}（{proc.name}）"[:100], body="\n".join(body)[:2000],
        priority=Priority.HIGH if to_status == CORRECTION_REQUESTED else Priority.NORMAL,
        reference=f"application-event:{event_id}"), now=now)
