"""Proxies through GraphQL: grant, read as proxy, out of scope, revoked, cannot grant on, parent reads child."""

from __future__ import annotations

from datetime import date, timedelta

from strawberry import relay

from api.identity.tokens import issue_token
from api.platform.db import create_session_factory
from tests.api.conftest import Portal, operation


def code_of(result: dict) -> str:
    [error] = result["errors"]
    return error["extensions"]["code"]


async def _token(portal: Portal, person) -> str:  # type: ignore[no-untyped-def]
    async with create_session_factory(portal.app.state.engine)() as session, session.begin():
        return await issue_token(session, person, ttl=timedelta(minutes=15))


async def test_grant_use_revoke_and_no_granting_on(portal: Portal) -> None:
    mother_token = await _token(portal, portal.mother)
    father_id = str(relay.GlobalID("Person", str(portal.father)))
    until = (date.today() + timedelta(days=30)).isoformat()
    # Before any grant the mother may not read the father's profile.
    refused = await portal.query(operation("ActingFor"), {"personId": father_id}, token=mother_token)
    assert code_of(refused) == "NOT_AUTHORIZED_FOR_PERSON"

    notices_only = await portal.query(operation("GrantProxy"), {"input": {
        "proxyEmail": "hanako@example.jp", "scopes": ["notices:read"], "validUntil": until}},
        token=portal.father_token)
    grant = notices_only["data"]["grantProxy"]
    assert {k: grant[k] for k in ("principalName", "proxyName", "proxyEmail", "pending", "scopes", "active")} == \
        {"principalName": "山田 太郎", "proxyName": None, "proxyEmail": "hanako@example.jp", "pending": True,
         "scopes": ["notices:read"], "active": False}
    accepted = await portal.query(operation("AcceptProxyGrant"), {"id": grant["id"]}, token=mother_token)
    assert accepted["data"]["acceptProxyGrant"] == {"id": grant["id"], "principalName": "山田 太郎",
                                                    "scopes": ["notices:read"], "validUntil": until,
                                                    "pending": False, "active": True}
    # Outside the granted scope: refused.
    assert code_of(await portal.query(operation("ActingFor"), {"personId": father_id}, token=mother_token)) == \
        "NOT_AUTHORIZED_FOR_PERSON"

    profile = (await portal.query(operation("GrantProxy"), {"input": {
        "proxyEmail": "hanako@example.jp", "scopes": ["profile:read"], "validUntil": until}},
        token=portal.father_token))["data"]["grantProxy"]
    # Not before the proxy accepts.
    assert code_of(await portal.query(operation("ActingFor"), {"personId": father_id}, token=mother_token)) == \
        "NOT_AUTHORIZED_FOR_PERSON"
    await portal.query(operation("AcceptProxyGrant"), {"id": profile["id"]}, token=mother_token)
    read = await portal.query(operation("ActingFor"), {"personId": father_id}, token=mother_token)
    assert read["data"]["actingFor"]["name"] == "山田 太郎"

    # The proxy cannot hand the father's rights on.
    on = await portal.query(operation("GrantProxy"), {"input": {
        "proxyEmail": "taro@example.jp", "scopes": ["notices:read"], "validUntil": until,
        "principalId": father_id}}, token=mother_token)
    assert code_of(on) == "PROXY_CANNOT_GRANT"

    listed = (await portal.query(operation("ProxyGrants"), token=portal.father_token))["data"]
    assert [g["scopes"] for g in listed["proxyGrants"]] == [["notices:read"], ["profile:read"]]
    assert listed["proxyGrantsReceived"] == []
    received = (await portal.query(operation("ProxyGrants"), token=mother_token))["data"]["proxyGrantsReceived"]
    assert [(g["proxyName"], g["pending"]) for g in received] == [("山田 花子", False)] * 2

    revoked = await portal.query(operation("RevokeProxyGrant"), {"id": profile["id"]}, token=portal.father_token)
    assert revoked["data"]["revokeProxyGrant"]["active"] is False
    assert code_of(await portal.query(operation("ActingFor"), {"personId": father_id}, token=mother_token)) == \
        "NOT_AUTHORIZED_FOR_PERSON"
    # Only the principal revokes.
    assert code_of(await portal.query(operation("RevokeProxyGrant"), {"id": grant["id"]}, token=mother_token)) == \
        "NOT_FOUND"


async def test_a_parent_reads_the_minor_childs_data(portal: Portal) -> None:
    child_id = str(relay.GlobalID("Person", str(portal.child)))
    read = await portal.query(operation("ActingFor"), {"personId": child_id}, token=portal.father_token)
    assert read["data"]["actingFor"] == {"id": child_id, "name": "山田 一郎", "birthDate": "2019-06-10"}


async def test_granting_to_an_unregistered_address_answers_as_for_a_registered_one(portal: Portal) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    answers = []
    for email in ("hanako@example.jp", "nobody@example.jp"):
        result = await portal.query(operation("GrantProxy"), {"input": {
            "proxyEmail": email, "scopes": ["notices:read"], "validUntil": until}}, token=portal.father_token)
        answers.append({k: v for k, v in result["data"]["grantProxy"].items() if k not in ("id", "proxyEmail")})
    assert answers[0] == answers[1] == {"principalName": "山田 太郎", "proxyName": None, "pending": True,
                                        "scopes": ["notices:read"], "validUntil": until, "revokedAt": None,
                                        "active": False}
    listed = (await portal.query(operation("ProxyGrants"), token=portal.father_token))["data"]["proxyGrants"]
    assert [{k: v for k, v in g.items() if k not in ("id", "proxyEmail", "createdAt")} for g in listed] == \
        [{k: v for k, v in answers[0].items()}] * 2
