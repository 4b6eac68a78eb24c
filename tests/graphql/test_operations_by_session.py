"""Every persisted operation runs, by its hash, with the session kind its client has, and answers without errors.

graphql/operations/phone/ runs with a phone's session (a real card login) or, for the sign-in operations
themselves, with none; tv/ with a TV's session (a real RFC 8628 sign-in approved on the phone); agency/ with an
agency's API key. The server accepts persisted operations only. A new operation without a case here fails
``test_every_operation_has_a_case``: the TvViewer that every TV session was refused must not happen again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.relay import GlobalID

from api.agencies.credentials import agency_by_slug, issue_agency_key
from api.notices.delivery_services import webhook_box
from api.notices.models import DeliveryService
from api.people.individual_number import IndividualNumberCipher
from api.platform.db import create_session_factory, utcnow
from api.platform.settings import PROJECT_ROOT
from api.proxies import grants
from corporate.importer import import_files
from nfc_bridge.jpki import Key
from nfc_bridge.virtual_card.store import CardData
from push.vapid import b64url
from tests.api.conftest import Portal, running_portal
from tests.api.history.helpers import add_exchange
from tests.api.identity import conftest as identity_fixtures
from tests.api.identity.conftest import IdentityPortal, b64, card_sign, phone_credential_input, phone_csr, phone_keys
from tests.api.schema.test_notices import person_code, segment_input, subscribe
from tests.conftest import make_settings
from tests.corporate.conftest import row, write_csv
from tests.payments import conftest as payment_fixtures
from tests.payments.conftest import CALLBACK_KEY, GATEWAY_SECRET, TAX_OFFICE, free_port, serve_in_loop

gateway_url = payment_fixtures.gateway_url  # the sandbox payment gateway, its own process (session-wide)
ca_dir, sandbox_ca = identity_fixtures.ca_dir, identity_fixtures.sandbox_ca  # the sandbox JPKI CA (session-wide)

OPERATIONS = PROJECT_ROOT / "graphql" / "operations"
FILES = {path.stem: path for path in sorted(OPERATIONS.rglob("*.graphql"))}
# Which session kinds each client folder may run its operations with.
KINDS = {"phone": {"phone", "anonymous"}, "tv": {"tv"}, "agency": {"agency"}}
TV_CLIENT = "jp.go.mynaportal.tv"
CORPORATE_NUMBER = "1000012160145"


@dataclass
class World:
    portal: Portal
    identity: IdentityPortal
    engine: AsyncEngine
    ws_url: str
    tmp_path: Path
    ran: list[tuple[str, str]] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)
    _card: CardData | None = None
    refresh_token: str = ""

    @property
    def father(self) -> uuid.UUID:
        return self.portal.father

    async def card(self) -> CardData:
        if self._card is None:
            self._card = await self.identity.card_for(self.father)
        return self._card

    async def token(self, kind: str) -> str | None:
        """The session each client really has: made the way that client gets it, once per test."""
        if kind == "anonymous":
            return None
        if kind not in self._tokens:
            self._tokens[kind] = await {"phone": self._phone, "tv": self._tv, "agency": self._agency}[kind]()
        return self._tokens[kind]

    async def _phone(self) -> str:
        signed_in = (await self.identity.card_login(await self.card()))["data"]["completeCardLogin"]
        self.refresh_token = signed_in["refreshToken"]
        return signed_in["accessToken"]

    async def _tv(self) -> str:
        started = (await self.portal.client.post("/oauth/device_authorization", data={"client_id": TV_CLIENT})).json()
        await self.identity.service.decide_device(started["user_code"], self.father, approve=True)
        polled = await self.portal.client.post("/oauth/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": started["device_code"],
            "client_id": TV_CLIENT})
        assert polled.status_code == 200, polled.text
        return polled.json()["access_token"]

    async def _agency(self) -> str:
        return await agency_key(self.engine, "chiyoda-city")

    async def run(self, name: str, variables: dict[str, Any] | None = None, *, kind: str) -> dict[str, Any]:
        """Run the persisted operation by its hash alone, as ``kind``; its data, asserting no errors."""
        path = FILES[name]
        assert kind in KINDS[path.parent.name], f"{name} is a {path.parent.name} operation, not run as {kind}"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        result = await self.portal.query(None, variables, token=await self.token(kind),
                                         extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}})
        assert "errors" not in result, result
        self.ran.append((name, kind))
        return result["data"]

    async def subscribe_once(self, name: str, kind: str, publish: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        """Open a graphql-transport-ws subscription to the operation, make ``publish`` happen, take one event."""
        path = FILES[name]
        assert kind in KINDS[path.parent.name]
        socket = await subscribe(self.ws_url, await self.token(kind))
        try:
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                          "payload": {"query": path.read_text(encoding="utf-8")}}))
            await asyncio.sleep(0.3)  # the listener is registered
            await publish()
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
        finally:
            await socket.close()
        assert message["type"] == "next" and "errors" not in message["payload"], message
        self.ran.append((name, kind))
        return message["payload"]["data"]

    # -- data the operations read ------------------------------------------------------------------------
    async def notice(self, reference: str = "n-1") -> str:
        published = await self.run("NoticePublish", {"input": segment_input(reference=reference)}, kind="agency")
        return published["noticePublish"]["id"]

    async def order(self, amount: int = 3_000) -> str:
        async with create_session_factory(self.engine)() as session, session.begin():
            agency = await agency_by_slug(session, TAX_OFFICE)
            assert agency is not None
            key = await issue_agency_key(session, agency.id, label="tests")
        code = await person_code(self.engine, TAX_OFFICE, self.father)
        response = await self.portal.client.post("/payments/v1/orders", json={
            "person_code": code, "amount": amount, "purpose": "住民税 第1期",
            "due_date": (date.today() + timedelta(days=30)).isoformat(), "reference": f"R-{uuid.uuid4().hex[:10]}"},
            headers={"authorization": f"Bearer {key}", "idempotency-key": str(uuid.uuid4())})
        assert response.status_code == 201, response.text
        return str(GlobalID("PaymentOrder", response.json()["order_id"]))

    async def payment(self) -> dict[str, Any]:
        started = await self.run("PaymentStart", {"orderId": await self.order(), "method": "CARD",
                                                  "idempotencyKey": str(uuid.uuid4())}, kind="phone")
        return started["paymentStart"]

    async def corporations(self) -> None:
        await import_files(self.engine, [write_csv(self.tmp_path / "c.csv", [
            row(1, CORPORATE_NUMBER, "青森物産株式会社", update="2016-01-05", furigana="アオモリブッサン"),
            row(2, "1000013050378", "株式会社青森", update="2016-01-06"),
        ])])

    async def push_input(self) -> dict[str, str]:
        server_key = (await self.run("PushApplicationServerKey", kind="phone"))["pushApplicationServerKey"]
        device = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"https://push.example/{uuid.uuid4().hex}", "p256dh": b64url(device),
                "auth": b64url(secrets.token_bytes(16)), "applicationServerKey": server_key, "deviceLabel": "phone"}

    async def invitation_from_mother(self, scopes: list[str]) -> str:
        view = await grants.grant(create_session_factory(self.engine), self.portal.mother,
                                  proxy_email="taro@example.jp", scopes=scopes,
                                  valid_until=date.today() + timedelta(days=30), today=date.today())
        return str(view.grant.id)

    async def user_code(self) -> str:
        started = (await self.portal.client.post("/oauth/device_authorization", data={"client_id": TV_CLIENT})).json()
        return started["user_code"]


async def agency_key(engine: AsyncEngine, slug: str) -> str:
    async with create_session_factory(engine)() as session, session.begin():
        agency = await agency_by_slug(session, slug)
        assert agency is not None
        return await issue_agency_key(session, agency.id, label="test")


@pytest.fixture
async def world(engine: AsyncEngine, cipher: IndividualNumberCipher, database_url: str, ca_dir: Path,
                sandbox_ca: Any, gateway_url: str, tmp_path: Path) -> AsyncIterator[World]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, persisted_only=True, sandbox_ca_dir=ca_dir, public_url=public_url,
                             payment_gateway_url=gateway_url, payment_gateway_secret=GATEWAY_SECRET,
                             payment_callback_key=CALLBACK_KEY)
    async with running_portal(engine, cipher, settings) as portal:
        # Revocation checks reach the portal's own OCSP responder in process, as tests/api/identity does.
        service = identity_fixtures.identity_service(settings, portal.app.state.session_factory, sandbox_ca,
                                                     httpx.ASGITransport(app=portal.app))
        portal.app.state.identity.service = service
        identity = IdentityPortal(portal, service, None, engine, cipher, sandbox_ca,  # type: ignore[arg-type]
                                  datetime.now(UTC))
        async with serve_in_loop(portal.app, port):
            yield World(portal, identity, engine, f"ws://127.0.0.1:{port}/graphql", tmp_path)


# -- the cases: one per operation ------------------------------------------------------------------------------
Case = Callable[[World], Awaitable[None]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        assert name not in CASES
        CASES[name] = function
        return function
    return register


def person_id(raw: uuid.UUID) -> str:
    return str(GlobalID("Person", str(raw)))


@case("StartCardLogin")
async def _start_card_login(w: World) -> None:
    started = (await w.run("StartCardLogin", {"clientId": "jp.go.mynaportal.app"}, kind="anonymous"))["startCardLogin"]
    assert uuid.UUID(started["challengeId"]) and base64.b64decode(started["toBeSigned"])


@case("CompleteCardLogin")
async def _complete_card_login(w: World) -> None:
    card = await w.card()
    challenge = (await w.run("StartCardLogin", {"clientId": "jp.go.mynaportal.app"}, kind="anonymous"))[
        "startCardLogin"]
    signature = card_sign(card, Key.AUTH, base64.b64decode(challenge["toBeSigned"]))
    done = (await w.run("CompleteCardLogin", {"input": {
        "challengeId": challenge["challengeId"], "clientId": "jp.go.mynaportal.app",
        "certificate": b64(card.der("auth_cert")), "chain": [b64(card.der("auth_ca_cert"))],
        "signature": b64(signature)}}, kind="anonymous"))["completeCardLogin"]
    assert done["accessToken"].startswith("mpt_") and done["refreshToken"].startswith("mpr_")
    assert (done["tokenType"], done["expiresIn"]) == ("Bearer", 900)


@case("RefreshSession")
async def _refresh_session(w: World) -> None:
    await w.token("phone")
    done = (await w.run("RefreshSession", {"refreshToken": w.refresh_token}, kind="anonymous"))["refreshSession"]
    assert done["accessToken"].startswith("mpt_") and done["refreshToken"] != w.refresh_token


@case("EndSession")
async def _end_session(w: World) -> None:
    assert await w.run("EndSession", kind="phone") == {"endSession": True}


@case("Viewer")
async def _viewer(w: World) -> None:
    viewer = (await w.run("Viewer", kind="phone"))["viewer"]
    assert (viewer["name"], viewer["municipality"]["name"]) == ("山田 太郎", "千代田区")
    assert viewer["maskedIndividualNumber"].endswith(viewer["maskedIndividualNumber"][-4:])


@case("ViewerChildren")
async def _viewer_children(w: World) -> None:
    children = (await w.run("ViewerChildren", {"first": 10}, kind="phone"))["viewer"]["children"]
    assert [edge["node"]["name"] for edge in children["edges"]] == ["山田 一郎"]


@case("PersonNode")
async def _person_node(w: World) -> None:
    node = (await w.run("PersonNode", {"id": person_id(w.father)}, kind="phone"))["node"]
    assert (node["id"], node["name"]) == (person_id(w.father), "山田 太郎")


@case("ActingFor")
async def _acting_for(w: World) -> None:
    child = (await w.run("ActingFor", {"personId": person_id(w.portal.child)}, kind="phone"))["actingFor"]
    assert child == {"id": person_id(w.portal.child), "name": "山田 一郎", "birthDate": "2019-06-10"}


@case("Agencies")
async def _agencies(w: World) -> None:
    agencies = (await w.run("Agencies", {"first": 20}, kind="phone"))["agencies"]
    assert "chiyoda-city" in [edge["node"]["slug"] for edge in agencies["edges"]]


@case("ApproveDeviceSignIn")
async def _approve(w: World) -> None:
    code = await w.user_code()
    assert (await w.run("ApproveDeviceSignIn", {"userCode": code}, kind="phone")) == {
        "approveDeviceSignIn": {"userCode": code, "approved": True}}


@case("DeviceSignIn")
async def _device_sign_in(w: World) -> None:
    code = await w.user_code()
    shown = (await w.run("DeviceSignIn", {"userCode": code}, kind="phone"))["deviceSignIn"]
    assert (shown["userCode"], shown["kind"], shown["fullAccess"]) == (code, "TV", False)


@case("DenyDeviceSignIn")
async def _deny(w: World) -> None:
    code = await w.user_code()
    assert (await w.run("DenyDeviceSignIn", {"userCode": code}, kind="phone")) == {
        "denyDeviceSignIn": {"userCode": code, "approved": False}}


@case("StartPhoneCredential")
async def _start_phone_credential(w: World) -> None:
    started = (await w.run("StartPhoneCredential", kind="phone"))["startPhoneCredential"]
    assert len(base64.b64decode(started["nonce"])) == 32


@case("IssuePhoneCredential")
async def _issue_phone_credential(w: World) -> None:
    token = await w.token("phone")
    assert token is not None
    auth, sign = phone_keys()
    given = await phone_credential_input(w.identity, await w.card(), phone_csr(auth), phone_csr(sign), token)
    issued = (await w.run("IssuePhoneCredential", {"input": given}, kind="phone"))["issuePhoneCredential"]
    assert len(issued["chain"]) == 2 and issued["authenticationCertificate"] != issued["signatureCertificate"]


@case("ReportCardLost")
async def _report_card_lost(w: World) -> None:
    await w.token("phone")  # signed in with the card, which is then reported lost
    assert await w.run("ReportCardLost", kind="phone") == {"reportCardLost": {"revokedCertificates": 2}}


@case("GrantProxy")
async def _grant_proxy(w: World) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    granted = (await w.run("GrantProxy", {"input": {"proxyEmail": "hanako@example.jp", "scopes": ["notices:read"],
                                                    "validUntil": until}}, kind="phone"))["grantProxy"]
    assert {k: granted[k] for k in ("proxyName", "proxyEmail", "pending", "active")} == {
        "proxyName": None, "proxyEmail": "hanako@example.jp", "pending": True, "active": False}


@case("AcceptProxyGrant")
async def _accept_proxy_grant(w: World) -> None:
    grant_id = await w.invitation_from_mother(["notices:read"])
    accepted = (await w.run("AcceptProxyGrant", {"id": grant_id}, kind="phone"))["acceptProxyGrant"]
    assert (accepted["principalName"], accepted["pending"], accepted["active"]) == ("山田 花子", False, True)


@case("ProxyGrants")
async def _proxy_grants(w: World) -> None:
    await w.invitation_from_mother(["notices:read"])
    listed = await w.run("ProxyGrants", kind="phone")
    assert listed["proxyGrants"] == []
    assert [(g["principalName"], g["pending"]) for g in listed["proxyGrantsReceived"]] == [("山田 花子", True)]


@case("RevokeProxyGrant")
async def _revoke_proxy_grant(w: World) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    granted = (await w.run("GrantProxy", {"input": {"proxyEmail": "hanako@example.jp", "scopes": ["notices:read"],
                                                    "validUntil": until}}, kind="phone"))["grantProxy"]
    revoked = (await w.run("RevokeProxyGrant", {"id": granted["id"]}, kind="phone"))["revokeProxyGrant"]
    assert (revoked["id"], revoked["active"]) == (granted["id"], False) and revoked["revokedAt"]


@case("CorporationLookup")
async def _corporation_lookup(w: World) -> None:
    await w.corporations()
    found = (await w.run("CorporationLookup", {"number": CORPORATE_NUMBER}, kind="phone"))["corporation"]
    assert (found["corporateNumber"], found["latest"]["name"]) == (CORPORATE_NUMBER, "青森物産株式会社")


@case("CorporationSearch")
async def _corporation_search(w: World) -> None:
    await w.corporations()
    found = (await w.run("CorporationSearch", {"query": "青森物産", "first": 5}, kind="phone"))["corporations"]
    assert [edge["node"]["corporateNumber"] for edge in found["edges"]][:1] == [CORPORATE_NUMBER]


@case("CorporationApplicationIdCreate")
async def _application_id_create(w: World) -> None:
    made = (await w.run("CorporationApplicationIdCreate", {"label": "株式会社テスト"}, kind="phone"))[
        "corporateApplicationIdCreate"]
    assert (len(made["applicationId"]), made["label"]) == (13, "株式会社テスト")


@case("CorporationApplicationIds")
async def _application_ids(w: World) -> None:
    await w.run("CorporationApplicationIdCreate", {"label": "株式会社テスト"}, kind="phone")
    listed = (await w.run("CorporationApplicationIds", kind="phone"))["corporateApplicationIds"]
    assert [(item["label"], item["revoked"]) for item in listed] == [("株式会社テスト", False)]


@case("DeliveryServiceLink")
async def _delivery_service_link(w: World) -> None:
    async with create_session_factory(w.engine)() as session, session.begin():
        box = webhook_box(w.portal.app.state.settings.data_key)
        session.add(DeliveryService(slug="mail-service", name="民間送達", webhook_url="https://delivery.example/hook",
                                    secret_ciphertext=box.seal(b"whsec_test")))
    linked = (await w.run("DeliveryServiceLink", {"service": "mail-service", "accountReference": "acct-1"},
                          kind="phone"))["deliveryServiceLink"]
    assert (linked["service"], linked["accountReference"]) == ("mail-service", "acct-1")


@case("PushApplicationServerKey")
async def _push_key(w: World) -> None:
    key = (await w.run("PushApplicationServerKey", kind="phone"))["pushApplicationServerKey"]
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 65


@case("PushSubscriptionRegister")
async def _push_register(w: World) -> None:
    made = (await w.run("PushSubscriptionRegister", {"input": await w.push_input()}, kind="phone"))[
        "pushSubscriptionRegister"]
    assert made["deviceLabel"] == "phone"


@case("PushSubscriptionDelete")
async def _push_delete(w: World) -> None:
    made = (await w.run("PushSubscriptionRegister", {"input": await w.push_input()}, kind="phone"))[
        "pushSubscriptionRegister"]
    assert await w.run("PushSubscriptionDelete", {"id": made["id"]}, kind="phone") == {
        "pushSubscriptionDelete": True}


@case("Notices")
async def _notices(w: World) -> None:
    notice = await w.notice()
    listed = (await w.run("Notices", {"first": 10}, kind="phone"))["notices"]
    assert [(e["node"]["id"], e["node"]["title"]) for e in listed["edges"]] == [(notice, "児童手当")]


@case("NoticeMarkRead")
async def _notice_mark_read(w: World) -> None:
    notice = await w.notice()
    marked = (await w.run("NoticeMarkRead", {"id": notice}, kind="phone"))["noticeMarkRead"]
    assert marked["id"] == notice and marked["readAt"]


@case("NoticeArchive")
async def _notice_archive(w: World) -> None:
    notice = await w.notice()
    archived = (await w.run("NoticeArchive", {"id": notice}, kind="phone"))["noticeArchive"]
    assert archived["id"] == notice and archived["archivedAt"]


@case("NoticeAdded")
async def _notice_added(w: World) -> None:
    data = await w.subscribe_once("NoticeAdded", "phone", lambda: w.notice("n-live"))
    assert data["noticeAdded"]["title"] == "児童手当"


@case("RecordHistory")
async def _record_history(w: World) -> None:
    await w.run("ActingFor", {"personId": person_id(w.portal.child)}, kind="phone")  # a read of the child's data
    history = (await w.run("RecordHistory", {"first": 5, "personId": person_id(w.portal.child)}, kind="phone"))[
        "recordHistory"]
    assert [(e["node"]["kind"], e["node"]["actorName"], e["node"]["purpose"]) for e in history["edges"]] == [
        ("PROXY_READ", "山田 太郎", "proxy:profile")]


@case("RecordAdded")
async def _record_added(w: World) -> None:
    async def exchange() -> None:  # as the exchange hub records one about the father
        async with create_session_factory(w.engine)() as session, session.begin():
            city, kenpo = (await agency_by_slug(session, "chiyoda-city"), await agency_by_slug(session, "kyokai-kenpo"))
            assert city is not None and kenpo is not None
            await add_exchange(session, w.father, city, kenpo, datetime.now(UTC))

    added = (await w.subscribe_once("RecordAdded", "phone", exchange))["recordAdded"]
    assert (added["kind"], added["requester"], added["provider"]) == ("EXCHANGE", {"name": "千代田区"},
                                                                      {"name": "全国健康保険協会"})


async def _held(w: World) -> str:
    """The father's copies (the demo's, and a pension); the id of his 住民税 item (Yokohama's) as the app sees it."""
    from tests.api.schema.test_selfinfo import register

    await register(w.engine, w.father)
    groups = (await w.run("SelfInfo", kind="phone"))["selfInfo"]
    return next(item["id"] for group in groups for item in group["items"] if item["kind"] == "local_tax")


@case("SelfInfo")
async def _self_info(w: World) -> None:
    await _held(w)
    groups = (await w.run("SelfInfo", kind="phone"))["selfInfo"]
    assert [(g["title"], [i["source"]["name"] for i in g["items"]]) for g in groups[:2]] == [
        ("税・所得", ["横浜市"]), ("年金", ["日本年金機構"])]


@case("SelfInfoExportCreate")
async def _self_info_export(w: World) -> None:
    made = (await w.run("SelfInfoExportCreate", kind="phone"))["selfInfoExport"]
    assert made["size"] > 0 and len(made["sha256"]) == 64


@case("SelfInfoExports")
async def _self_info_exports(w: World) -> None:
    made = (await w.run("SelfInfoExportCreate", kind="phone"))["selfInfoExport"]
    [listed] = (await w.run("SelfInfoExports", kind="phone"))["selfInfoExports"]
    assert listed["id"] == made["id"] and json.loads(listed["document"])["personId"] == str(w.father)


@case("RequestCorrection")
async def _request_correction(w: World) -> None:
    item = await _held(w)
    asked = (await w.run("RequestCorrection", {"input": {"itemId": item, "message": "誤りがあります"}},
                         kind="phone"))["requestCorrection"]
    assert (asked["status"], asked["provider"]["name"]) == ("OPEN", "横浜市")


@case("CorrectionRequests")
async def _correction_requests(w: World) -> None:
    item = await _held(w)
    await w.run("RequestCorrection", {"input": {"itemId": item, "message": "誤りがあります"}}, kind="phone")
    listed = (await w.run("CorrectionRequests", kind="phone"))["correctionRequests"]
    assert [(r["itemName"], r["status"]) for r in listed] == [("local_tax/2025", "OPEN")]


@case("PaymentOrdersDue")
async def _orders_due(w: World) -> None:
    order = await w.order(amount=4_321)
    due = (await w.run("PaymentOrdersDue", {"first": 10}, kind="phone"))["paymentOrders"]
    assert [(e["node"]["id"], e["node"]["amount"]) for e in due["edges"]] == [(order, 4_321)]


@case("PaymentSlipQr")
async def _slip_qr(w: World) -> None:
    order = await w.order()
    node = (await w.run("PaymentSlipQr", {"id": order}, kind="phone"))["node"]
    assert node["id"] == order and "<svg" in node["slipQrSvg"]


@case("PaymentStart")
async def _payment_start(w: World) -> None:
    started = await w.payment()
    assert (started["amount"], started["method"], started["state"]["finished"]) == (3_000, "CARD", False)
    assert started["nextUrl"].startswith("http://127.0.0.1:")


@case("PaymentStatus")
async def _payment_status(w: World) -> None:
    started = await w.payment()
    node = (await w.run("PaymentStatus", {"id": started["id"]}, kind="phone"))["node"]
    assert (node["id"], node["amount"], node["receipt"]) == (started["id"], 3_000, None)


@case("PaymentCancel")
async def _payment_cancel(w: World) -> None:
    started = await w.payment()
    cancelled = (await w.run("PaymentCancel", {"paymentId": started["id"]}, kind="phone"))["paymentCancel"]
    assert cancelled["state"]["status"] == "CANCELLED"


@case("PaymentHistory")
async def _payment_history(w: World) -> None:
    started = await w.payment()
    history = (await w.run("PaymentHistory", {"first": 10}, kind="phone"))["payments"]
    assert [(e["node"]["id"], e["node"]["order"]["purpose"]) for e in history["edges"]] == [
        (started["id"], "住民税 第1期")]


@case("TvViewer")
async def _tv_viewer(w: World) -> None:
    assert (await w.run("TvViewer", kind="tv")) == {"viewer": {"id": person_id(w.father), "name": "山田 太郎"}}


@case("TvNotices")
async def _tv_notices(w: World) -> None:
    notice = await w.notice()
    listed = (await w.run("TvNotices", {"first": 10}, kind="tv"))["notices"]
    assert [(e["node"]["id"], e["node"]["agency"]["name"]) for e in listed["edges"]] == [(notice, "千代田区")]


@case("TvNoticeAdded")
async def _tv_notice_added(w: World) -> None:
    data = await w.subscribe_once("TvNoticeAdded", "tv", lambda: w.notice("n-tv"))
    assert (data["noticeAdded"]["title"], data["noticeAdded"]["body"]) == ("児童手当", "現況届の提出")


@case("NoticePublish")
async def _notice_publish(w: World) -> None:
    published = (await w.run("NoticePublish", {"input": segment_input(reference="r-1")}, kind="agency"))[
        "noticePublish"]
    assert (published["recipientCount"], published["replayed"]) == (2, False)


@case("NoticeDeliveryReport")
async def _delivery_report(w: World) -> None:
    notice = await w.notice()
    report = (await w.run("NoticeDeliveryReport", {"noticeId": notice}, kind="agency"))["noticeDeliveryReport"]
    assert report["deliveries"]["pageInfo"]["hasNextPage"] is False


def test_every_operation_has_a_case() -> None:
    assert sorted(CASES) == sorted(FILES)


@pytest.mark.parametrize("name", sorted(FILES), ids=str)
async def test_the_operation_runs_with_its_clients_session(world: World, name: str) -> None:
    if name not in CASES:
        pytest.fail(f"{FILES[name].relative_to(PROJECT_ROOT)} has no case in {Path(__file__).name}")
    await CASES[name](world)
    assert name in [ran for ran, _ in world.ran], f"the case for {name} did not run it"


async def test_a_tv_session_runs_nothing_of_the_phones_profile(world: World) -> None:
    # The other way round: the phone's full profile is not the TV's.
    tv = await world.token("tv")
    document = FILES["Viewer"].read_bytes()
    refused = await world.portal.query(None, token=tv, extensions={"persistedQuery": {
        "version": 1, "sha256Hash": hashlib.sha256(document).hexdigest()}})
    assert {error["extensions"]["code"] for error in refused["errors"]} == {"FORBIDDEN"}


async def _chiyoda_code(w: World, person: uuid.UUID) -> str:
    from sqlalchemy import select

    from api.agencies.models import AgencyPersonCode

    async with create_session_factory(w.engine)() as session:
        agency = await agency_by_slug(session, "chiyoda-city")
        assert agency is not None
        return str(await session.scalar(select(AgencyPersonCode.code).where(
            AgencyPersonCode.agency_id == agency.id, AgencyPersonCode.person_id == person)))


@case("ExchangeRequest")
async def _exchange_request(w: World) -> None:
    answer = (await w.run("ExchangeRequest", {"input": {
        "personCode": await _chiyoda_code(w, w.portal.father), "duty": "child_allowance",
        "provider": "yokohama-city", "items": ["local_tax"]}}, kind="agency"))["exchangeRequest"]
    assert (answer["legalRow"]["id"], answer["processingType"], answer["notHeld"]) == ("beppyo2:74:1", "copy", [])
    assert [(i["kind"], i["value"]["tax_year"]) for i in answer["items"]] == [("local_tax", 2025)]


@case("ExchangeCopiesRegister")
async def _exchange_copies_register(w: World) -> None:
    copy = {"personCode": await _chiyoda_code(w, w.portal.child), "itemKind": "resident_record", "value": {
        "household_head_name": "山田 太郎", "relationship_to_head": "子", "members": []}}
    registered = (await w.run("ExchangeCopiesRegister", {"input": {"idempotencyKey": "k-1", "copies": [copy]}},
                              kind="agency"))["exchangeCopiesRegister"]
    assert {k: registered[k] for k in ("created", "updated", "unchanged", "replayed")} == {
        "created": 0, "updated": 1, "unchanged": 0, "replayed": False}


@case("ExchangeRecords")
async def _exchange_records(w: World) -> None:
    await _exchange_request(w)
    page = (await w.run("ExchangeRecords", {"first": 5}, kind="agency"))["exchangeRecords"]
    assert [(e["node"]["provider"], e["node"]["outcome"]) for e in page["edges"]] == [("yokohama-city", "provided")]
    assert page["hasNextPage"] is False


# -- online applications (api.applications) ---------------------------------------------------------------------
@case("Procedures")
async def _procedures(w: World) -> None:
    found = (await w.run("Procedures", {"keyword": "じどうてあて", "municipality": "131016"},
                         kind="anonymous"))["procedures"]
    assert [p["code"] for p in found] == ["child_allowance_claim", "child_allowance_status"]
    assert found[0]["obtainedThroughNetwork"] == [{"item": "local_tax", "replaces": "所得（課税）証明書"}]


@case("Pittari")
async def _pittari(w: World) -> None:
    fits = (await w.run("Pittari", kind="phone"))["pittari"]
    assert [(f["procedure"]["code"], f["children"]) for f in fits] == [("child_allowance_claim", ["山田 一郎"])]


async def _started(w: World) -> dict[str, Any]:
    return (await w.run("StartApplication", {"procedure": "child_allowance_claim",
                                             "subjectId": person_id(w.portal.child)}, kind="phone"))["startApplication"]


@case("StartApplication")
async def _start_application(w: World) -> None:
    started = await _started(w)
    assert (started["status"], started["basis"], started["form"]["child"]["name"]) == ("draft", "parent", "山田 一郎")


async def _saved(w: World) -> dict[str, Any]:
    started = await _started(w)
    form = {**started["form"], "payTo": {"usePublicBenefitAccount": True}}
    return (await w.run("SaveApplication", {"id": started["id"], "form": form, "revision": started["revision"]},
                        kind="phone"))["saveApplication"]


@case("SaveApplication")
async def _save_application(w: World) -> None:
    saved = await _saved(w)
    assert (saved["revision"], saved["form"]["payTo"]) == (2, {"usePublicBenefitAccount": True})


@case("PrefillApplication")
async def _prefill_application(w: World) -> None:
    saved = await _saved(w)
    done = (await w.run("PrefillApplication", {"id": saved["id"], "consentedItems": ["local_tax"]},
                        kind="phone"))["prefillApplication"]
    assert (done["filled"], done["notHeld"], done["application"]["form"]["income"]["taxYear"]) == (["income"], [], 2025)


@case("AttachToApplication")
async def _attach(w: World) -> None:
    saved = await _saved(w)
    attached = (await w.run("AttachToApplication", {
        "id": saved["id"], "requirement": "bank_account_proof", "filename": "通帳.pdf",
        "mediaType": "application/pdf", "content": b64(b"%PDF-1.7 passbook")}, kind="phone"))["attachToApplication"]
    assert (attached["mediaType"], attached["size"]) == ("application/pdf", 17)


@case("ApplicationToSign")
async def _to_sign(w: World) -> None:
    saved = await _saved(w)
    to_sign = (await w.run("ApplicationToSign", {"id": saved["id"]}, kind="phone"))["applicationToSign"]
    assert hashlib.sha256(base64.b64decode(to_sign["document"])).hexdigest() == to_sign["sha256"]


async def _submitted(w: World) -> dict[str, Any]:
    saved = await _saved(w)
    to_sign = (await w.run("ApplicationToSign", {"id": saved["id"]}, kind="phone"))["applicationToSign"]
    card = await w.card()
    return (await w.run("SubmitApplication", {"input": {
        "id": saved["id"], "formVersion": 1, "certificate": b64(card.der("sign_cert")),
        "chain": [b64(card.der("sign_ca_cert"))],
        "signature": b64(card_sign(card, Key.SIGN, base64.b64decode(to_sign["document"])))}},
        kind="phone"))["submitApplication"]


@case("SubmitApplication")
async def _submit(w: World) -> None:
    sent = await _submitted(w)
    assert sent["status"] == "received" and len(sent["receptionNumber"]) == 22


@case("WithdrawApplication")
async def _withdraw_application(w: World) -> None:
    sent = await _submitted(w)
    done = (await w.run("WithdrawApplication", {"id": sent["id"], "reason": "転出のため"},
                        kind="phone"))["withdrawApplication"]
    assert (done["status"], done["receptionNumber"]) == ("withdrawn", sent["receptionNumber"])
    page = (await w.run("InboxApplications", {"status": "withdrawn"}, kind="agency"))["inboxApplications"]
    assert [a["receptionNumber"] for a in page["applications"]] == [sent["receptionNumber"]]


@case("MyApplications")
async def _my_applications(w: World) -> None:
    saved = await _saved(w)
    mine = (await w.run("MyApplications", kind="phone"))["myApplications"]
    assert [(a["id"], a["status"]) for a in mine] == [(saved["id"], "draft")]


@case("Application")
async def _application(w: World) -> None:
    saved = await _saved(w)
    got = (await w.run("Application", {"id": saved["id"]}, kind="phone"))["application"]
    assert (got["revision"], got["prefill"]["claimant"]) == (2, {"source": "basic4"})


@case("RegisterPublicBenefitAccount")
async def _register_account(w: World) -> None:
    account = (await w.run("RegisterPublicBenefitAccount", {"input": {
        "bankCode": "0001", "branchCode": "001", "kind": "ordinary", "number": "1234567",
        "holderKana": "ﾔﾏﾀﾞ ﾀﾛｳ"}}, kind="phone"))["registerPublicBenefitAccount"]
    assert (account["holderKana"], account["number"]) == ("ヤマダ タロウ", "1234567")


@case("PublicBenefitAccount")
async def _account(w: World) -> None:
    assert (await w.run("PublicBenefitAccount", kind="phone"))["publicBenefitAccount"] is None
    await _register_account(w)
    assert (await w.run("PublicBenefitAccount", kind="phone"))["publicBenefitAccount"]["bankCode"] == "0001"


@case("WithdrawPublicBenefitAccount")
async def _withdraw_account(w: World) -> None:
    await _register_account(w)
    assert (await w.run("WithdrawPublicBenefitAccount", kind="phone"))["withdrawPublicBenefitAccount"] is True


@case("InboxApplications")
async def _inbox_applications(w: World) -> None:
    sent = await _submitted(w)
    page = (await w.run("InboxApplications", {"status": "received"}, kind="agency"))["inboxApplications"]
    assert [(a["receptionNumber"], a["procedure"]) for a in page["applications"]] == [
        (sent["receptionNumber"], "child_allowance_claim")]


@case("InboxApplication")
async def _inbox_application(w: World) -> None:
    sent = await _submitted(w)
    got = (await w.run("InboxApplication", {"receptionNumber": sent["receptionNumber"]},
                       kind="agency"))["inboxApplication"]
    assert [h["to"] for h in got["history"]] == ["draft", "received"]


@case("MoveApplication")
async def _move_application(w: World) -> None:
    sent = await _submitted(w)
    moved = (await w.run("MoveApplication", {"receptionNumber": sent["receptionNumber"], "status": "reviewing",
                                             "idempotencyKey": "m-1"}, kind="agency"))["moveApplication"]
    assert (moved["status"], moved["previous"]) == ("reviewing", "received")
async def _oidc_login_waiting(w: World) -> str:
    """A relying party's login waiting for the person: the browser opened its authorization URL."""
    from tests.api.oidc.conftest import REDIRECT, add_client
    rp = await add_client(w.portal, "etaxsandbox", "e-Tax (sandbox)")
    page = await w.portal.client.get("/oidc/authorize", params={
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT, "scope": "openid name",
        "state": "s-1", "nonce": "n-1", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256"})
    return page.text.split('data-code="')[1].split('"')[0]


@case("OidcLogin")
async def _oidc_login(w: World) -> None:
    shown = (await w.run("OidcLogin", {"shortCode": await _oidc_login_waiting(w)}, kind="phone"))["oidcLogin"]
    assert (shown["clientName"], shown["consentRequired"], shown["status"]) == ("e-Tax (sandbox)", True, "pending")
    assert [c["scope"] for c in shown["claims"]] == ["openid", "name"]


@case("OidcLoginDecide")
async def _oidc_login_decide(w: World) -> None:
    decided = (await w.run("OidcLoginDecide", {"shortCode": await _oidc_login_waiting(w), "approve": True},
                           kind="phone"))["oidcLoginDecide"]
    assert (decided["status"], decided["consentRequired"]) == ("approved", True)


async def _oidc_sign_waiting(w: World) -> str:
    """A relying party's signing transaction (as POST /oidc/sign opens it) over the digest of a document."""
    import hashlib
    from datetime import timedelta

    from sqlalchemy import select

    from api.oidc.models import OidcClient, OidcSignTransaction
    from api.platform.db import utcnow
    from tests.api.oidc.conftest import add_client
    rp = await add_client(w.portal, "etaxsign", "e-Tax (sandbox)", scopes=("openid", "sign"))
    async with w.portal.app.state.session_factory() as session, session.begin():
        client = await session.scalar(select(OidcClient).where(OidcClient.client_id == rp.client_id))
        session.add(OidcSignTransaction(client_pk=client.id, short_code="SIGN2345", title="委任契約",
                                        digest=hashlib.sha256(b"contract").digest(),
                                        expires_at=utcnow() + timedelta(minutes=5)))
    return "SIGN-2345"


@case("OidcSignRequest")
async def _oidc_sign_request(w: World) -> None:
    shown = (await w.run("OidcSignRequest", {"shortCode": await _oidc_sign_waiting(w)},
                         kind="phone"))["oidcSignRequest"]
    assert (shown["clientName"], shown["title"], shown["status"]) == ("e-Tax (sandbox)", "委任契約", "pending")


@case("OidcSign")
async def _oidc_sign(w: World) -> None:
    short_code = await _oidc_sign_waiting(w)
    card = await w.card()
    signed = (await w.run("OidcSign", {"input": {
        "shortCode": short_code, "certificate": b64(card.der("sign_cert")), "chain": [b64(card.der("sign_ca_cert"))],
        "signature": b64(card_sign(card, Key.SIGN, b"contract"))}}, kind="phone"))["oidcSign"]
    assert (signed["status"], signed["title"]) == ("signed", "委任契約") and signed["signedAt"]


@case("OidcConsents")
async def _oidc_consents(w: World) -> None:
    await w.run("OidcLoginDecide", {"shortCode": await _oidc_login_waiting(w), "approve": True}, kind="phone")
    [consent] = (await w.run("OidcConsents", kind="phone"))["oidcConsents"]
    assert (consent["clientName"], consent["active"], consent["withdrawnAt"]) == ("e-Tax (sandbox)", True, None)


@case("OidcConsentWithdraw")
async def _oidc_consent_withdraw(w: World) -> None:
    await w.run("OidcLoginDecide", {"shortCode": await _oidc_login_waiting(w), "approve": True}, kind="phone")
    [consent] = (await w.run("OidcConsents", kind="phone"))["oidcConsents"]
    withdrawn = (await w.run("OidcConsentWithdraw", {"id": consent["id"]}, kind="phone"))["oidcConsentWithdraw"]
    assert (withdrawn["id"], withdrawn["active"]) == (consent["id"], False) and withdrawn["withdrawnAt"]
async def _certificate(w: World, key: str) -> dict[str, Any]:
    return (await w.run("CertificateRequest", {"input": {"kind": "RESIDENT_RECORD", "idempotencyKey": key}},
                        kind="phone"))["requestCertificate"]


async def _collected(w: World) -> dict[str, Any]:
    from sqlalchemy import update

    from payments.models import OrderState, PaymentOrder

    asked = await _certificate(w, "collect")
    order_id = uuid.UUID(base64.b64decode(asked["paymentOrderId"]).decode().split(":", 1)[1])
    async with create_session_factory(w.engine)() as session, session.begin():  # the gateway's settlement
        await session.execute(update(PaymentOrder).where(PaymentOrder.id == order_id).values(state=OrderState.PAID))
    return (await w.run("CertificateCollect", {"id": asked["id"]}, kind="phone"))["collectCertificate"]


@case("CertificateRequest")
async def _certificate_request(w: World) -> None:
    asked = await _certificate(w, "k1")
    assert (asked["kind"], asked["state"], asked["fee"], asked["verificationUrl"]) == (
        "RESIDENT_RECORD", "AWAITING_PAYMENT", 300, None)


@case("CertificateCollect")
async def _certificate_collect(w: World) -> None:
    collected = await _collected(w)
    assert collected["state"] == "ISSUED" and "/certificates/v1/verify/" in collected["verificationUrl"]


@case("CertificateOfferAgain")
async def _certificate_offer_again(w: World) -> None:
    from sqlalchemy import update

    from api.certificates.models import CertificateIssuance
    from api.notices.delivery_services import link_account, register_service, webhook_box
    from payments.models import OrderState, PaymentOrder

    factory = create_session_factory(w.engine)
    async with factory() as session, session.begin():
        await register_service(session, webhook_box(w.portal.app.state.settings.data_key), slug="mypost",
                               name="mypostポスト", webhook_url="http://127.0.0.1:9/hook", allow_private=True)
        link, _ = await link_account(session, w.father, service_slug="mypost", account_reference="acct-1")
    asked = (await w.run("CertificateRequest", {"input": {
        "kind": "RESIDENT_RECORD", "idempotencyKey": "again", "channel": "DELIVERY",
        "deliveryServiceLinkId": str(link.id)}}, kind="phone"))["requestCertificate"]
    order_id = uuid.UUID(base64.b64decode(asked["paymentOrderId"]).decode().split(":", 1)[1])
    async with factory() as session, session.begin():  # paid, issued, and its link ran out untaken
        await session.execute(update(PaymentOrder).where(PaymentOrder.id == order_id).values(state=OrderState.PAID))
    await w.run("CertificateCollect", {"id": asked["id"]}, kind="phone")
    async with factory() as session, session.begin():
        await session.execute(update(CertificateIssuance).values(fetch_until=utcnow() - timedelta(seconds=1)))
    again = (await w.run("CertificateOfferAgain", {"id": asked["id"]}, kind="phone"))["offerCertificateAgain"]
    assert (again["id"], again["state"]) == (asked["id"], "ISSUED")
    assert datetime.fromisoformat(again["deliveryLinkUntil"]) > utcnow() + timedelta(days=3)


@case("CertificateRequests")
async def _certificate_requests(w: World) -> None:
    asked = await _certificate(w, "k2")
    listed = (await w.run("CertificateRequests", kind="phone"))["certificateRequests"]
    assert [item["id"] for item in listed] == [asked["id"]]


@case("CertificateDocument")
async def _certificate_document(w: World) -> None:
    collected = await _collected(w)
    document = (await w.run("CertificateDocument", {"id": collected["id"]}, kind="phone"))["certificateDocument"]
    assert document["contentType"] == "application/pdf"
    assert base64.b64decode(document["base64"]).startswith(b"%PDF-")
