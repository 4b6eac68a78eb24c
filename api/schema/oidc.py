"""GraphQL for もっとつながる: the app shows a waiting login (the client, its purpose, the claims it asks for) and
approves or denies it; the person lists their consents to relying parties and withdraws one (its tokens end at once).
Only the person themself, signed in on their own phone (profile:read), decides: never a proxy or a TV."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import strawberry

from api.oidc import login, signing
from api.oidc.login import ConsentView, LoginView
from api.oidc.scopes import SCOPE_TITLES
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PROFILE_READ
from api.schema.context import Info


@strawberry.type(name="OidcClaim", description="A scope a relying party asks for, and what it gives it.")
class OidcClaimType:
    scope: str
    title: str


@strawberry.type(name="OidcSignRequest", description="A relying party's signing transaction: the digest of its "
                                                     "document, to sign with the card's or phone's signature "
                                                     "credential.")
class OidcSignRequestType:
    client_name: str
    purpose: str
    title: str = strawberry.field(description="What the relying party says the document is.")
    digest: str = strawberry.field(description="The SHA-256 digest to sign (base64url).")
    status: str = strawberry.field(description="pending or signed.")
    expires_at: datetime
    signed_at: datetime | None
    short_code: str = strawberry.field(description="The request's short code (what oidcSign takes).")

    @classmethod
    def from_view(cls, view: signing.SignView) -> OidcSignRequestType:
        row = view.transaction
        return cls(client_name=view.client.name, purpose=view.client.purpose, title=row.title,
                   digest=signing.b64url(row.digest), status=row.status.value, expires_at=row.expires_at,
                   signed_at=row.signed_at, short_code=row.short_code)


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
    sign_request: OidcSignRequestType | None = strawberry.field(
        description="Scope sign: the relying party's document to sign (oidcSign with its shortCode) before approving.")

    @classmethod
    def from_view(cls, view: LoginView) -> OidcLoginType:
        sign = OidcSignRequestType.from_view(signing.SignView(view.sign, view.client)) if view.sign else None
        return cls(client_name=view.client.name, purpose=view.client.purpose,
                   claims=[OidcClaimType(scope=scope, title=title) for scope, title in view.claims],
                   consent_required=view.consent_required, status=view.request.status.value,
                   expires_at=view.request.expires_at, sign_request=sign)


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


@strawberry.input(description="The signature over the request's digest, with the signature certificate (base64 "
                              "DER) and its chain.")
class OidcSignInput:
    short_code: str
    certificate: str
    chain: list[str]
    signature: str


def _decode(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value[:16384], validate=True)
    except (binascii.Error, ValueError) as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} is not base64.",
                          extensions={"field": field}) from error


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

    @strawberry.field(description="The signing request waiting under this short code (or QR code): the client, "
                                  "its purpose, the title and the digest.")
    async def oidc_sign_request(self, info: Info, short_code: str) -> OidcSignRequestType:
        info.context.require_person(PROFILE_READ)
        view = await signing.view_transaction(info.context.read_session_factory, short_code)
        return OidcSignRequestType.from_view(view)


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

    @strawberry.mutation(description="Sign a relying party's signing request with your card's or phone's signature "
                                     "credential (verified: chain, revocation, signature, and that it is yours). "
                                     "Once only; the relying party then receives the signature and certificate.")
    async def oidc_sign(self, info: Info, input: OidcSignInput) -> OidcSignRequestType:
        principal = info.context.require_person(PROFILE_READ)
        view = await signing.sign_transaction(
            info.context.session_factory, info.context.identity.service, principal.person_id, input.short_code,
            certificate=_decode(input.certificate, "certificate"),
            chain=[_decode(c, "chain") for c in input.chain[:signing.MAX_CHAIN + 1]],
            signature=_decode(input.signature, "signature"))
        return OidcSignRequestType.from_view(view)
