"""GraphQL for identity: card and phone login, refresh, the smartphone credential, a lost card, TV approval.

Binary values (certificates, signatures, CSRs, the data to sign) travel as standard base64.
"""

from __future__ import annotations

import base64
import binascii
import enum
import uuid
from datetime import datetime

import strawberry

from api.identity.challenges import login_message
from api.identity.device import WEB_QR_CLIENT
from api.identity.service import IdentityService
from api.identity.sessions import TokenPair
from api.platform.errors import ErrorCode, PortalError
from api.platform.scopes import PROFILE_READ
from api.schema.context import Info

MAX_BASE64 = 16_384


def service_of(info: Info) -> IdentityService:
    return info.context.identity.service


def decode(value: str, field: str) -> bytes:
    if len(value) > MAX_BASE64:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} is too long.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{field} is not valid base64.") from error


def encode(value: bytes) -> str:
    return base64.b64encode(value).decode()


@strawberry.type(description="A single-use login challenge, bound to the client, valid two minutes.")
class CardLoginChallenge:
    challenge_id: str
    to_be_signed: str = strawberry.field(description="Base64: sign these bytes (SHA-256) with the card's "
                                                     "authentication key or the phone key.")
    expires_at: datetime


@strawberry.type(description="A signed-in session: a 15-minute access token and a rotating refresh token (none on "
                             "a shared terminal, whose access token lasts while it is used).")
class SignInPayload:
    access_token: str
    refresh_token: str | None
    token_type: str
    expires_in: int
    scopes: list[str]

    @classmethod
    def of(cls, pair: TokenPair) -> SignInPayload:
        return cls(access_token=pair.access_token, refresh_token=pair.refresh_token, token_type="Bearer",  # noqa: S106
                   expires_in=pair.expires_in, scopes=sorted(pair.scopes))


@strawberry.input
class CompleteCardLoginInput:
    challenge_id: str
    client_id: str
    certificate: str = strawberry.field(description="Base64 DER of the authentication certificate.")
    chain: list[str] = strawberry.field(default_factory=list, description="Base64 DER of its CA certificates.")
    signature: str
    shared_terminal_id: str | None = strawberry.field(default=None, description=(
        "Set on a shared terminal (a municipal counter, a public kiosk; its own id): the session ends after a "
        "few idle minutes, has no refresh token, and the terminal's next login ends it."))


@strawberry.type(description="A single-use challenge for issuing the phone credential, valid two minutes.")
class PhoneCredentialChallenge:
    challenge_id: str
    nonce: str = strawberry.field(description="Base64: the nonce the card's signature key signs with the CSRs.")
    expires_at: datetime


@strawberry.input
class IssuePhoneCredentialInput:
    challenge_id: str = strawberry.field(description="From startPhoneCredential; usable once.")
    authentication_csr: str = strawberry.field(
        description="Base64 DER PKCS#10 request for the phone's authentication key (EC P-256).")
    signature_csr: str = strawberry.field(
        description="Base64 DER PKCS#10 request for the phone's signature key (EC P-256, another key).")
    card_sign_certificate: str = strawberry.field(description="Base64 DER of the card's signature certificate.")
    chain: list[str] = strawberry.field(default_factory=list)
    signature: str = strawberry.field(description=(
        "Base64: the card's signature key over 'mynaportal-phone-credential-v2' followed by the nonce, the "
        "authentication CSR and the signature CSR, each preceded by its length (2 bytes, big-endian)."))


@strawberry.type(description="スマホ用電子証明書: the phone's authentication and signature certificates.")
class PhoneCredentialPayload:
    authentication_certificate: str
    signature_certificate: str
    chain: list[str]


@strawberry.type
class ReportCardLostPayload:
    revoked_certificates: int


@strawberry.type
class DeviceSignInDecision:
    user_code: str
    approved: bool


@strawberry.enum(description="What kind of screen asks to sign in.")
class DeviceKind(enum.Enum):
    TV = "tv"  # a living-room screen: notices (and payments due) to read, nothing more
    BROWSER = "browser"  # the web portal on a PC: the person's full session


@strawberry.type(description="A pending sign-in shown by a TV or a browser, for the app to show before its owner "
                             "decides: what it would get and where the request came from (RFC 8628 §5.4).")
class DeviceSignInRequest:
    user_code: str
    kind: DeviceKind
    scopes: list[str]
    full_access: bool = strawberry.field(description="Approving gives a full session: approveDeviceSignIn then "
                                                     "needs confirmInFrontOfIt.")
    requested_at: datetime
    expires_at: datetime
    requester_address: str | None = strawberry.field(description="The IP address the request came from.")
    requester_browser: str | None = strawberry.field(description="The requesting browser's User-Agent.")


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The sign-in waiting for this code (the app shows it before approving).")
    async def device_sign_in(self, info: Info, user_code: str) -> DeviceSignInRequest:
        info.context.require_person(PROFILE_READ)
        asked = await service_of(info).describe_device(user_code)
        return DeviceSignInRequest(
            user_code=asked.user_code, kind=DeviceKind.BROWSER if asked.client_id == WEB_QR_CLIENT else DeviceKind.TV,
            scopes=sorted(asked.scopes), full_access=asked.full_access, requested_at=asked.requested_at,
            expires_at=asked.expires_at, requester_address=asked.requester.address,
            requester_browser=asked.requester.agent)


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Start a card (or phone) login for this client (app id).")
    async def start_card_login(self, info: Info, client_id: str) -> CardLoginChallenge:
        challenge = await service_of(info).start_login(client_id)
        return CardLoginChallenge(challenge_id=str(challenge.id), expires_at=challenge.expires_at,
                                  to_be_signed=encode(login_message(challenge.client_id, challenge.nonce)))

    @strawberry.mutation(description="Finish the login with the signed challenge and the certificate.")
    async def complete_card_login(self, info: Info, input: CompleteCardLoginInput) -> SignInPayload:
        try:
            challenge_id = uuid.UUID(input.challenge_id)
        except ValueError as error:
            raise PortalError(ErrorCode.CHALLENGE_UNKNOWN, "No such login challenge.") from error
        certificate = decode(input.certificate, "certificate")
        chain = [decode(item, "chain") for item in input.chain]
        signature = decode(input.signature, "signature")
        pair = await service_of(info).complete_login(challenge_id, input.client_id, certificate, chain, signature,
                                                     shared_terminal_id=input.shared_terminal_id)
        return SignInPayload.of(pair)

    @strawberry.mutation(description="Sign out: end this session (and its refresh tokens) at once. A shared "
                                     "terminal calls it when its resident leaves.")
    async def end_session(self, info: Info) -> bool:
        principal = info.context.principal or info.context.require_person(PROFILE_READ)
        await service_of(info).end_session(principal.token_id)
        return True

    @strawberry.mutation(description="Exchange a refresh token for a new pair; a spent token ends the session.")
    async def refresh_session(self, info: Info, refresh_token: str) -> SignInPayload:
        return SignInPayload.of(await service_of(info).refresh(refresh_token))

    @strawberry.mutation(description="Start issuing the smartphone credential: a challenge for the card to sign.")
    async def start_phone_credential(self, info: Info) -> PhoneCredentialChallenge:
        principal = info.context.require_person(PROFILE_READ)
        challenge = await service_of(info).start_phone_credential(principal.person_id)
        return PhoneCredentialChallenge(challenge_id=str(challenge.id), nonce=encode(challenge.nonce),
                                        expires_at=challenge.expires_at)

    @strawberry.mutation(description="Issue the smartphone credential, vouched for by the card's signature key over "
                                     "a fresh challenge. Revokes the previous phone's credential.")
    async def issue_phone_credential(self, info: Info, input: IssuePhoneCredentialInput) -> PhoneCredentialPayload:
        principal = info.context.require_person(PROFILE_READ)
        try:
            challenge_id = uuid.UUID(input.challenge_id)
        except ValueError as error:
            raise PortalError(ErrorCode.CHALLENGE_UNKNOWN, "No such challenge.") from error
        auth_csr = decode(input.authentication_csr, "authenticationCsr")
        sign_csr = decode(input.signature_csr, "signatureCsr")
        certificate = decode(input.card_sign_certificate, "cardSignCertificate")
        chain = [decode(item, "chain") for item in input.chain]
        signature = decode(input.signature, "signature")
        issued = await service_of(info).issue_phone_credential(principal.person_id, challenge_id, auth_csr, sign_csr,
                                                               certificate, chain, signature)
        return PhoneCredentialPayload(authentication_certificate=encode(issued.auth_certificate),
                                      signature_certificate=encode(issued.sign_certificate),
                                      chain=[encode(c) for c in issued.chain])

    @strawberry.mutation(description="Report the card lost: its certificates and phone credentials are revoked.")
    async def report_card_lost(self, info: Info) -> ReportCardLostPayload:
        principal = info.context.require_person(PROFILE_READ)
        count = await service_of(info).report_card_lost(principal.person_id)
        return ReportCardLostPayload(revoked_certificates=count)

    @strawberry.mutation(description="Approve the screen showing this code. A TV gets a session that may only read "
                                     "notices; a browser's sign-in (full access, see deviceSignIn) needs "
                                     "confirmInFrontOfIt: the person says the screen is in front of them, not a "
                                     "code someone sent them.")
    async def approve_device_sign_in(self, info: Info, user_code: str,
                                     confirm_in_front_of_it: bool = False) -> DeviceSignInDecision:
        return await _decide(info, user_code, approve=True, confirmed=confirm_in_front_of_it)

    @strawberry.mutation(description="Deny the TV showing this code.")
    async def deny_device_sign_in(self, info: Info, user_code: str) -> DeviceSignInDecision:
        return await _decide(info, user_code, approve=False)


async def _decide(info: Info, user_code: str, *, approve: bool, confirmed: bool = False) -> DeviceSignInDecision:
    # profile:read: a phone's full session, never a TV's (a TV cannot approve another TV).
    principal = info.context.require_person(PROFILE_READ)
    code = await service_of(info).decide_device(user_code, principal.person_id, approve=approve,
                                                session_token_id=principal.token_id,
                                                confirmed_in_front_of_it=confirmed)
    return DeviceSignInDecision(user_code=code, approved=approve)
