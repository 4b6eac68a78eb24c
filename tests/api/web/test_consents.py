"""連携サービス page through the app's routes: the person's OpenID Connect consents listed with purpose and items;
withdrawing one (with the form token) ends it; another person's consent cannot be withdrawn."""

from __future__ import annotations

from sqlalchemy import select

from api.oidc.models import OidcClient, OidcConsent
from api.platform.db import utcnow
from tests.api.applications.conftest import OneStop
from tests.api.oidc.conftest import add_client
from tests.api.web.test_applications import signed_in


async def test_a_consent_is_listed_and_withdrawn_by_its_person_only(one_stop: OneStop) -> None:
    await add_client(one_stop.identity.portal, "etaxweb", "e-Tax")
    async with one_stop.factory() as session, session.begin():
        client_pk = await session.scalar(select(OidcClient.id).where(OidcClient.client_id == "etaxweb"))
        consent = OidcConsent(person_id=one_stop.father, client_pk=client_pk,
                              purpose="e-Tax へのログインと申告書の作成",
                              scopes="openid name selfinfo:tax-income", granted_at=utcnow())
        session.add(consent)
    async with signed_in(one_stop, one_stop.mother) as (mother, mother_csrf):
        assert "連携しているサービスはありません。" in (await mother.get("/web/consents")).text
        refused = await mother.post(f"/web/consents/{consent.id}/withdraw", data={"csrf": mother_csrf})
        assert refused.status_code == 404
    async with signed_in(one_stop, one_stop.father) as (client, csrf):
        page = await client.get("/web/consents")
        assert page.status_code == 200 and "利用目的: e-Tax へのログインと申告書の作成" in page.text
        assert "e-Taxへの同意を取り消す" in page.text and " · 有効</span>" in page.text
        forged = await client.post(f"/web/consents/{consent.id}/withdraw")  # no form token
        assert forged.status_code == 403
        done = await client.post(f"/web/consents/{consent.id}/withdraw", data={"csrf": csrf})
        assert (done.status_code, done.headers["location"]) == (303, f"/web/consents?withdrawn={consent.id}")
        page = await client.get("/web/consents")
        assert "取り消し済み" in page.text and "e-Taxへの同意を取り消す" not in page.text
    async with one_stop.factory() as session:
        assert (await session.get_one(OidcConsent, consent.id)).withdrawn_at is not None
