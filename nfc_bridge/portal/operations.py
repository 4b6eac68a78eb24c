"""The persisted operations the bridge sends, byte for byte as in graphql/operations/phone/ (a test
checks), so a production server that accepts only persisted documents takes them."""

from __future__ import annotations

START_CARD_LOGIN = """mutation StartCardLogin($clientId: String!) {
  startCardLogin(clientId: $clientId) {
    challengeId
    toBeSigned
    expiresAt
  }
}
"""

COMPLETE_CARD_LOGIN = """mutation CompleteCardLogin($input: CompleteCardLoginInput!) {
  completeCardLogin(input: $input) {
    accessToken
    refreshToken
    tokenType
    expiresIn
    scopes
  }
}
"""

REFRESH_SESSION = """mutation RefreshSession($refreshToken: String!) {
  refreshSession(refreshToken: $refreshToken) {
    accessToken
    refreshToken
    tokenType
    expiresIn
    scopes
  }
}
"""

ISSUE_PHONE_CREDENTIAL = """mutation IssuePhoneCredential($input: IssuePhoneCredentialInput!) {
  issuePhoneCredential(input: $input) {
    authenticationCertificate
    signatureCertificate
    chain
  }
}
"""

ALL = {"StartCardLogin": START_CARD_LOGIN, "CompleteCardLogin": COMPLETE_CARD_LOGIN,
       "RefreshSession": REFRESH_SESSION, "IssuePhoneCredential": ISSUE_PHONE_CREDENTIAL}
