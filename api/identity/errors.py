"""The one exception the identity domain raises for expected refusals, with a stable code."""

from __future__ import annotations


class IdentityRefused(Exception):
    """A login, token, credential or device-grant request refused; ``code`` is what clients branch on.

    Codes: CHALLENGE_UNKNOWN, CHALLENGE_USED, CHALLENGE_EXPIRED, CHALLENGE_CLIENT_MISMATCH,
    CERTIFICATE_INVALID, CERTIFICATE_UNTRUSTED, CERTIFICATE_EXPIRED, CERTIFICATE_REVOKED,
    CERTIFICATE_USAGE_INVALID, CERTIFICATE_UNKNOWN, REVOCATION_UNAVAILABLE, SIGNATURE_INVALID,
    RATE_LIMITED (with ``retry_after`` seconds), REFRESH_TOKEN_INVALID, REFRESH_TOKEN_REUSED,
    CARD_LOGIN_UNAVAILABLE, CSR_INVALID, CARD_NOT_FOUND, DEVICE_CODE_UNKNOWN, DEVICE_CODE_EXPIRED,
    DEVICE_CODE_DECIDED, BAD_USER_INPUT.
    """

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
