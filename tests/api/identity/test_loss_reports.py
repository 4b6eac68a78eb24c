"""Reporting a card lost: by the person, or by the hotline's operator after an identity check, also from the
`mynaportal operator report-lost` command in its own process while this worker keeps the card's session."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.identity.loss_reports import OPERATOR_PURPOSE, report_lost_by_operator
from api.identity.pki_models import CardLossReport, IssuedCertificate
from api.identity.session_cache import MAX_AGE_SECONDS
from api.platform.access_records import AccessRecord
from api.platform.db import create_session_factory
from api.platform.errors import PortalError
from tests.api.identity.conftest import IdentityPortal, command_env
from tests.api.identity.test_login import VIEWER, code_of

BIRTH_DATE = dt.date(1985, 4, 1)  # the demo father's


async def _rows(identity: IdentityPortal) -> tuple[list[tuple], list[tuple], int]:
    """(reports, access records, revoked certificates)."""
    async with create_session_factory(identity.engine)() as session:
        reports = (await session.execute(select(CardLossReport.person_id, CardLossReport.operator,
                                                CardLossReport.identity_check, CardLossReport.certificates_revoked)
                                         .order_by(CardLossReport.reported_at))).all()
        records = (await session.execute(select(AccessRecord.actor_person_id, AccessRecord.actor_operator,
                                                AccessRecord.subject_person_id, AccessRecord.purpose))).all()
        revoked = await session.scalar(select(func.count()).select_from(IssuedCertificate)
                                       .where(IssuedCertificate.revoked_at.is_not(None)))
    return [tuple(r) for r in reports], [tuple(r) for r in records], revoked or 0


async def test_the_operator_reports_for_a_verified_caller_on_the_persons_record(identity: IdentityPortal) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    assert (await identity.portal.query(VIEWER, token=signed_in["accessToken"]))["data"] is not None
    async with create_session_factory(identity.engine)() as session, session.begin():
        report = await report_lost_by_operator(
            session, "taro@example.jp", operator="hotline-042", name="山田　太郎", birth_date=BIRTH_DATE,
            verified_by="call back to the registered number", now=identity.now)
    assert (report.person_id, report.certificates_revoked) == (identity.portal.father, 2)
    assert code_of(await identity.portal.query(VIEWER, token=signed_in["accessToken"])) == "UNAUTHENTICATED"
    assert code_of(await identity.card_login(card)) == "CERTIFICATE_REVOKED"
    assert await _rows(identity) == (
        [(identity.portal.father, "hotline-042",
          "name and birth date matched; call back to the registered number", 2)],
        [(None, "hotline-042", identity.portal.father, OPERATOR_PURPOSE)],
        2)


@pytest.mark.parametrize(("wanted", "name", "birth_date"), [
    ("taro@example.jp", "山田 太郎", dt.date(1985, 4, 2)),
    ("taro@example.jp", "山田 花子", BIRTH_DATE),
    ("nobody@example.jp", "山田 太郎", BIRTH_DATE),
])
async def test_a_caller_who_does_not_match_the_record_changes_nothing(
        identity: IdentityPortal, wanted: str, name: str, birth_date: dt.date) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    with pytest.raises(PortalError) as refused:
        async with create_session_factory(identity.engine)() as session, session.begin():
            await report_lost_by_operator(session, wanted, operator="hotline-042", name=name, birth_date=birth_date,
                                          verified_by="call back", now=identity.now)
    assert refused.value.code == "IDENTITY_NOT_VERIFIED"
    assert await _rows(identity) == ([], [], 0)
    assert (await identity.portal.query(VIEWER, token=signed_in["accessToken"]))["data"] is not None


async def test_the_persons_own_report_is_kept_without_an_operator(identity: IdentityPortal) -> None:
    await identity.card_for(identity.portal.father)
    await identity.gql("ReportCardLost", token=identity.portal.father_token)
    assert await _rows(identity) == ([(identity.portal.father, None, None, 2)], [], 2)


async def test_the_operator_command_in_its_own_process_ends_this_workers_session_within_a_second(
        identity: IdentityPortal, database_url: str, ca_dir: Path) -> None:
    card = await identity.card_for(identity.portal.father)
    signed_in = (await identity.card_login(card))["data"]["completeCardLogin"]
    assert (await identity.portal.query(VIEWER, token=signed_in["accessToken"]))["data"] is not None  # kept
    command = [sys.executable, "-m", "api.cli", "operator", "report-lost", "--person", "taro@example.jp",
               "--name", "山田 太郎", "--operator", "hotline-042", "--verified-by", "call back"]

    wrong = await asyncio.create_subprocess_exec(*command, "--birth-date", "1985-04-02",
                                                 env=command_env(database_url, ca_dir),
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await wrong.communicate()
    assert (wrong.returncode, out, err.decode()) == (
        1, b"", "mynaportal: The caller's name and birth date do not match a person's record. Nothing was revoked.\n")

    right = await asyncio.create_subprocess_exec(*command, "--birth-date", "1985-04-01",
                                                 env=command_env(database_url, ca_dir),
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await right.communicate()
    done = time.monotonic()
    assert (right.returncode, out.decode()) == (0, "taro@example.jp: revoked 2 certificates and ended their "
                                                   "sessions\n"), err
    while True:  # no request sent a second after the command committed is answered
        asked = time.monotonic()
        answer = await identity.portal.query(VIEWER, token=signed_in["accessToken"])
        if not answer.get("data"):
            break
        assert asked - done < MAX_AGE_SECONDS, "still answered a second after"
        await asyncio.sleep(0.02)
    assert code_of(answer) == "UNAUTHENTICATED"
