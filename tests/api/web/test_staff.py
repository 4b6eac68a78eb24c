"""The municipality's staff inbox pages: a separate sign-in with the staff token (own cookie and form token),
list, open (on the applicant's record), request a correction, approve; a reader only reads."""

from __future__ import annotations

import hashlib
import re

import httpx
from sqlalchemy import select, update

from api.applications.models import Application, ApplicationEvent
from api.applications.staff import create_staff, disable_staff
from api.applications.staff_sessions import IDLE, StaffWebSession
from api.platform.access_records import AccessRecord
from api.platform.auth import hash_token
from api.platform.db import utcnow
from tests.api.applications.conftest import OneStop
from tests.api.applications.test_rest import sent
from tests.api.identity.conftest import PUBLIC_URL


def _client(one_stop: OneStop) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=one_stop.identity.portal.app), base_url=PUBLIC_URL)


async def _sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    page = await client.get("/web/staff/login")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return await client.post("/web/staff/login", data={"csrf": csrf, "token": token})


def _csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


async def _status(one_stop: OneStop, number: str) -> str:
    async with one_stop.factory() as session:
        return (await session.scalars(select(Application.status).where(
            Application.reception_number == number))).one()


async def test_a_decider_opens_requests_a_correction_and_approves(one_stop: OneStop) -> None:
    number = await sent(one_stop)
    async with one_stop.factory() as session, session.begin():
        _, token = await create_staff(session, one_stop.chiyoda_id, "鈴木", "decider")
    async with _client(one_stop) as client:
        assert (await client.get("/web/staff")).headers["location"] == "/web/staff/login"
        signed = await _sign_in(client, token)
        assert (signed.status_code, signed.headers["location"]) == (303, "/web/staff")
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("mp_staff=") and "Path=/web/staff" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie and token not in cookie.split(";")[0].split(".")[-1]
        listing = await client.get("/web/staff")
        assert listing.status_code == 200 and f">{number}</a>" in listing.text and "千代田区 職員 鈴木" in listing.text
        assert "山田" not in listing.text  # people by the municipality's code, not by name
        where = f"/web/staff/applications/{number}"
        opened = await client.get(where)
        assert opened.status_code == 200 and "署名用電子証明書で署名済み" in opened.text
        assert "<h3>対象児童</h3>" in opened.text and "<dt>請求者と同居している</dt><dd>はい</dd>" in opened.text
        assert "審査を始める" in opened.text and "承認する" not in opened.text  # 受付 → 審査中 first
        csrf = _csrf(opened)
        key = re.search(r'name="idempotency_key" value="([^"]+)"', opened.text).group(1)  # type: ignore[union-attr]
        move = {"csrf": csrf, "status": "reviewing", "idempotency_key": key}
        assert (await client.post(f"{where}/move", data=move)).status_code == 303
        assert (await client.post(f"{where}/move", data=move)).status_code == 303  # a double submit: done once
        no_note = await client.post(f"{where}/move", data={"csrf": csrf, "status": "correction_requested"})
        assert no_note.status_code == 400 and await _status(one_stop, number) == "reviewing"
        correction = await client.post(f"{where}/move", data={"csrf": csrf, "status": "correction_requested",
                                                                "note": "口座の写しが読めません"})
        assert correction.status_code == 303 and await _status(one_stop, number) == "correction_requested"
        forged = await client.post(f"{where}/move", data={"status": "rejected", "note": "x"})  # no form token
        assert forged.status_code == 403 and await _status(one_stop, number) == "correction_requested"
    # The person corrects and sends it again; the staff member approves.
    await one_stop.submit(one_stop.father, (await _application(one_stop, number)).id,
                          await one_stop.signed(await one_stop.card(one_stop.father), one_stop.father,
                                                (await _application(one_stop, number)).id))
    async with _client(one_stop) as client:
        await _sign_in(client, token)
        csrf = _csrf(await client.get(f"/web/staff/applications/{number}"))
        for status in ("reviewing", "completed"):
            moved = await client.post(f"/web/staff/applications/{number}/move", data={"csrf": csrf, "status": status})
            assert moved.status_code == 303
        assert "承認する" not in (await client.get(f"/web/staff/applications/{number}")).text
    assert await _status(one_stop, number) == "completed"
    async with one_stop.factory() as session:
        actors = (await session.scalars(select(ApplicationEvent.actor).join(
            Application, Application.id == ApplicationEvent.application_id).where(
            Application.reception_number == number).order_by(ApplicationEvent.at, ApplicationEvent.id))).all()
        reads = (await session.scalars(select(AccessRecord.purpose).where(
            AccessRecord.subject_person_id == one_stop.father,
            AccessRecord.purpose == f"application:read:{number}"))).all()
    assert actors[-1] == "千代田区 職員 鈴木" and actors.count("千代田区 職員 鈴木") == 4  # the double submit: once
    assert len(reads) == 3  # each opening is on the applicant's record


async def _application(one_stop: OneStop, number: str) -> Application:
    async with one_stop.factory() as session:
        return (await session.scalars(select(Application).where(Application.reception_number == number))).one()


async def test_a_reader_only_reads_a_bad_or_disabled_token_is_refused(one_stop: OneStop) -> None:
    number = await sent(one_stop)
    async with one_stop.factory() as session, session.begin():
        reader, token = await create_staff(session, one_stop.chiyoda_id, "佐藤", "reader")
    async with _client(one_stop) as client:
        bad = await _sign_in(client, "mps_nothing")
        assert bad.status_code == 401 and "職員用トークンが正しくありません" in bad.text
        assert (await client.get("/web/staff")).status_code == 303  # not signed in
        await _sign_in(client, token)
        opened = await client.get(f"/web/staff/applications/{number}")
        assert opened.status_code == 200 and "(閲覧のみ)" in opened.text and "審査を始める" not in opened.text
        refused = await client.post(f"/web/staff/applications/{number}/move",
                                    data={"csrf": _csrf(opened), "status": "reviewing"})
        assert refused.status_code == 403 and await _status(one_stop, number) == "received"
        async with one_stop.factory() as session, session.begin():
            assert await disable_staff(session, reader.id)
        assert (await client.get("/web/staff")).headers["location"] == "/web/staff/login"  # out at once


async def test_the_cookie_holds_only_an_opaque_id_and_signing_out_or_idling_ends_the_session(
        one_stop: OneStop) -> None:
    async with one_stop.factory() as session, session.begin():
        _, token = await create_staff(session, one_stop.chiyoda_id, "高橋", "reader")
    async with _client(one_stop) as client:
        login_page = await client.get("/web/staff/login")
        form_cookie = login_page.headers["set-cookie"]  # the sign-in form's token, before any session
        assert form_cookie.startswith("mp_staff_login=") and "Path=/web/staff/login" in form_cookie
        signed = await _sign_in(client, token)
        session_id = client.cookies["mp_staff"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id)  # 32 random bytes: nothing else in it
        async with one_stop.factory() as session:
            rows = (await session.scalars(select(StaffWebSession))).all()
        assert [(row.id_hash, row.credential_hash) for row in rows] == [
            (hashlib.sha256(session_id.encode()).digest(), hash_token(token))]  # hashes only: no token, no id
        assert signed.status_code == 303 and (await client.get("/web/staff")).status_code == 200
        csrf = _csrf(await client.get("/web/staff"))
        out = await client.post("/web/staff/logout", data={"csrf": csrf})
        assert (out.status_code, out.headers["location"]) == (303, "/web/staff/login")
        assert 'mp_staff=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    async with one_stop.factory() as session:
        assert (await session.scalars(select(StaffWebSession))).all() == []
    async with _client(one_stop) as replayed:  # the old cookie, kept by someone: nothing left to resume
        replayed.cookies.set("mp_staff", session_id, path="/web/staff")
        assert (await replayed.get("/web/staff")).headers["location"] == "/web/staff/login"
    async with _client(one_stop) as client:
        await _sign_in(client, token)
        async with one_stop.factory() as session, session.begin():
            await session.execute(update(StaffWebSession).values(last_seen_at=utcnow() - IDLE))
        assert (await client.get("/web/staff")).headers["location"] == "/web/staff/login"  # 30 minutes unused
    async with one_stop.factory() as session:
        assert (await session.scalars(select(StaffWebSession))).all() == []
