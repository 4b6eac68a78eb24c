"""GraphQL for もっとつながる: the app shows a waiting login (the client, its purpose, the claims it asks for) and
approves or denies it; the person lists their consents to relying parties and withdraws one (its tokens end at once).
Only the person themself, signed in on their own phone (profile:read), decides: never a proxy or a TV."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from api.oidc import login
from api.oidc.login import ConsentView, LoginView
from api.oidc.scopes import SCOPE_TITLES
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PROFILE_READ
from api.schema.context import Info


@strawberry.type(name="OidcClaim", description="A scope a relying party asks for, and what it gives it.")
class OidcClaimType:
    scope: str
    title: str


@strawberry.type(name="OidcLogin", description="A login at a relying party waiting for (or given) the person's "
                                               "decision.")
class OidcLoginType:
    client_name: str
    purpose: str = strawberry.field(description="The client's one registered purpose (利用目的).")
    claims: list[OidcClaimType]
    consent_required: bool = strawberry.field(description="True when approving records a new consent (none "
                                                          "covers these claims, it expired, or prompt=consent).")
    status: str = strawberry.field(description="pending, approved or denied.")
    expires_at: datetime

    @classmethod
    def from_view(cls, view: LoginView) -> OidcLoginType:
        return cls(client_name=view.client.name, purpose=view.client.purpose,
                   claims=[OidcClaimType(scope=scope, title=title) for scope, title in view.claims],
                   consent_required=view.consent_required, status=view.request.status.value,
                   expires_at=view.request.expires_at)


@strawberry.type(name="OidcConsent", description="The person's consent to one relying party for its purpose.")
class OidcConsentType:
    id: str
    client_name: str
    purpose: str
    claims: list[OidcClaimType]
    granted_at: datetime
    expires_at: datetime | None
    withdrawn_at: datetime | None
    active: bool

    @classmethod
    def from_view(cls, view: ConsentView) -> OidcConsentType:
        consent = view.consent
        return cls(id=str(consent.id), client_name=view.client.name, purpose=consent.purpose,
                   claims=[OidcClaimType(scope=s, title=SCOPE_TITLES.get(s, s)) for s in consent.scopes.split()],
                   granted_at=consent.granted_at, expires_at=consent.expires_at, withdrawn_at=consent.withdrawn_at,
                   active=view.active)


def _consent_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise PortalError(ErrorCode.NOT_FOUND, "No such consent.") from error


@strawberry.type
class OidcQuery:
    @strawberry.field(description="The login waiting under this short code (or QR code), as the person will "
                                  "approve it.")
    async def oidc_login(self, info: Info, short_code: str) -> OidcLoginType:
        principal = info.context.require_person(PROFILE_READ)
        view = await login.view_login(info.context.read_session_factory, principal.person_id, short_code)
        return OidcLoginType.from_view(view)

    @strawberry.field(description="The signed-in person's consents to relying parties, newest first (at most 100; "
                                  "withdrawn and expired ones too).")
    async def oidc_consents(self, info: Info) -> list[OidcConsentType]:
        principal = info.context.require_person(PROFILE_READ)
        views = await login.person_consents(info.context.read_session_factory, principal.person_id)
        return [OidcConsentType.from_view(view) for view in views]


@strawberry.type
class OidcMutation:
    @strawberry.mutation(description="Approve (or deny) the login waiting under this short code; approving "
                                     "records the consent where one is required. The browser then continues to "
                                     "the relying party.")
    async def oidc_login_decide(self, info: Info, short_code: str, approve: bool) -> OidcLoginType:
        principal = info.context.require_person(PROFILE_READ)
        view = await login.decide_login(info.context.session_factory, principal.person_id, short_code,
                                        approve=approve)
        return OidcLoginType.from_view(view)

    @strawberry.mutation(description="Withdraw a consent: every token the relying party holds under it is revoked "
                                     "at once (idempotent).")
    async def oidc_consent_withdraw(self, info: Info, id: str) -> OidcConsentType:
        principal = info.context.require_person(PROFILE_READ)
        view = await login.withdraw_consent(info.context.session_factory, principal.person_id, _consent_id(id))
        return OidcConsentType.from_view(view)
