"""The documented environment variables: name, default and meaning of each (the README's settings table is checked
against this list; `api.platform.settings` reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from api.platform.settings import DEFAULT_DATABASE_URL, DEMO_VAPID_SUBJECT


@dataclass(frozen=True)
class Setting:
    """One documented environment variable (the README table is checked against this list)."""

    name: str
    default: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("MYNAPORTAL_ENV", "development", "`development` or `production`. Production refuses demo keys, "
            "GraphiQL, introspection and any GraphQL document that is not a persisted operation."),
    Setting("MYNAPORTAL_DATABASE_URL", DEFAULT_DATABASE_URL, "SQLAlchemy URL. `sqlite:///…` and "
            "`postgresql://…` are accepted and mapped to the async drivers (aiosqlite, psycopg)."),
    Setting("MYNAPORTAL_DATA_KEY", "generated demo key", "Base64 of 32 bytes: the AES-256-GCM key that "
            "encrypts individual numbers at rest. Required in production."),
    Setting("MYNAPORTAL_LOOKUP_KEY", "generated demo key", "Base64 of 32 bytes: the HMAC-SHA256 key of the "
            "keyed hash used to find a person by individual number. Required in production."),
    Setting("MYNAPORTAL_DATA_KEYS", "generation 1 = MYNAPORTAL_DATA_KEY", "Key generations of the individual "
            "number's AES-256-GCM key, newest first: `3:base64,2:base64`. The first encrypts; all decrypt until "
            "`mynaportal keys reencrypt` has moved every row and `keys retire` removed one. MYNAPORTAL_DATA_KEY "
            "stays the root of the other secrets at rest."),
    Setting("MYNAPORTAL_PREVIOUS_DATA_KEYS", "", "During a rotation of MYNAPORTAL_DATA_KEY as the root of the "
            "secrets at rest (VAPID private keys, webhook secrets): the previous root(s), base64, comma-separated. "
            "They still open those secrets until `mynaportal secrets-reseal` has sealed every one anew."),
    Setting("MYNAPORTAL_LOOKUP_KEYS", "generation 1 = MYNAPORTAL_LOOKUP_KEY", "Key generations of the lookup "
            "hash's HMAC-SHA256 key, newest first, as MYNAPORTAL_DATA_KEYS."),
    Setting("MYNAPORTAL_KEY_SOURCE", "settings", "`settings` (the keys above) or `pkcs11`: the number's keys "
            "stay inside a PKCS#11 token (HSM, KMS), labelled `mynaportal-data-N` / `mynaportal-lookup-N`."),
    Setting("MYNAPORTAL_HSM_MODULE", "", "With `pkcs11`: the PKCS#11 library, e.g. "
            "/usr/lib/softhsm/libsofthsm2.so."),
    Setting("MYNAPORTAL_HSM_TOKEN", "", "With `pkcs11`: the token's label."),
    Setting("MYNAPORTAL_HSM_PIN", "", "With `pkcs11`: the user PIN (or MYNAPORTAL_HSM_PIN_FILE, a file "
            "holding it)."),
    Setting("MYNAPORTAL_DEMO_KEYS_FILE", "var/demo-keys.json", "Where development keeps the demo keys it "
            "generates on first run."),
    Setting("MYNAPORTAL_GRAPHIQL", "true (development), false (production)", "Serve GraphiQL at /graphql."),
    Setting("MYNAPORTAL_INTROSPECTION", "true (development), false (production)",
            "Allow schema introspection queries."),
    Setting("MYNAPORTAL_PERSISTED_ONLY", "false (development), true (production)",
            "Accept only the documents in graphql/operations/ (by text or by sha256 hash)."),
    Setting("MYNAPORTAL_OPERATIONS_DIR", "graphql/operations", "The persisted-operation allowlist."),
    Setting("MYNAPORTAL_MAX_DEPTH", "10", "Maximum GraphQL operation depth."),
    Setting("MYNAPORTAL_MAX_ALIASES", "15", "Maximum aliases in one GraphQL document."),
    Setting("MYNAPORTAL_MAX_TOKENS", "2000", "Maximum lexical tokens in one GraphQL document, comments included."),
    Setting("MYNAPORTAL_MAX_DOCUMENT_LENGTH", "100000", "Maximum characters of one GraphQL document, comments "
            "included (refused before it is read; the token limit counts comments too)."),
    Setting("MYNAPORTAL_MAX_BODY_GRAPHQL", "1048576", "Maximum bytes of a /graphql request body or WebSocket "
            "message (413 / close 1009 beyond it)."),
    Setting("MYNAPORTAL_MAX_BODY_REST", "262144", "Maximum bytes of a REST request body (413 problem beyond it)."),
    Setting("MYNAPORTAL_MAX_BODY_WEBHOOKS", "262144", "Maximum bytes of a webhook notification body (the "
            "payment gateway's)."),
    Setting("MYNAPORTAL_MAX_ATTACHMENT_BYTES", "5242880", "Maximum bytes of an application's attachment on every "
            "transport (GraphQL's attachToApplication, the web form), below each procedure's own limit "
            "(ATTACHMENT_TOO_LARGE beyond it); the /graphql body limit is raised to admit one, base64."),
    Setting("MYNAPORTAL_ACCESS_TOKEN_TTL", "900", "Lifetime of an access token, in seconds."),
    Setting("MYNAPORTAL_SESSION_CACHE_SIZE", "10000", "Tokens each worker keeps after looking them up (the "
            "principal only, for at most a second; see `api/identity/session_cache.py`); 0 looks every token up."),
    Setting("MYNAPORTAL_LOG_LEVEL", "INFO", "Python log level of the JSON logs."),
    Setting("MYNAPORTAL_HOST", "127.0.0.1", "Address `mynaportal serve` binds."),
    Setting("MYNAPORTAL_PORT", "8000", "Port `mynaportal serve` binds."),
    Setting("MYNAPORTAL_WORKERS", "1", "uvicorn worker processes for `mynaportal serve` (use PostgreSQL "
            "for more than one)."),
    Setting("MYNAPORTAL_VAPID_SUBJECT", DEMO_VAPID_SUBJECT, "VAPID `sub` claim (RFC 8292): a `mailto:` or "
            "`https:` contact push services can reach. Production refuses the example default."),
    Setting("MYNAPORTAL_PUSH_CA_FILE", "unset", "Extra PEM trust anchor for push endpoints and webhook "
            "destinations (the local `mynaportal dev-push-service` certificate in development and tests)."),
    Setting("MYNAPORTAL_CORPORATE_RATE", "10", "Corporate-number API: requests per second allowed per "
            "application id (429 with Retry-After beyond it), across all workers with Redis storage."),
    Setting("MYNAPORTAL_RATE_LIMIT_STORAGE", "memory://", "Where rate limits count (api/platform/rate_limits.py): "
            "`memory://` for one worker, `redis://host:6379/0` for several (`serve --workers N` requires it)."),
    Setting("MYNAPORTAL_RATE_LIMIT_PREFIX", "mynaportal", "Key prefix of the rate-limit counters in Redis."),
    Setting("MYNAPORTAL_MAX_CONCURRENCY", "0", "Requests a worker handles at once before it sheds load with 503 "
            "and Retry-After (api/platform/shedding.py); 0: no limit."),
    Setting("MYNAPORTAL_CORPORATE_BURST", "20", "Corporate-number API: requests an application id may send at "
            "once before the rate applies."),
    Setting("MYNAPORTAL_PUBLIC_URL", "http://127.0.0.1:8000", "The portal's public origin: written into "
            "sandbox certificates (OCSP, CRL addresses) and into the TV sign-in verification URI."),
    Setting("MYNAPORTAL_SANDBOX_CA_DIR", "var/sandbox-ca (development), unset (production)", "Where the sandbox "
            "JPKI CA keeps the keys it generates on first run. Production refuses it."),
    Setting("MYNAPORTAL_CERTIFICATE_PKI_DIR", "var/certificate-pki (development; generated)", "The municipal "
            "signing keys of certificates (住民票 ...) and the time-stamping authority's key: `root.pem`, "
            "`tsa.pem`, `signer-<municipality code>.pem`. Production requires it and refuses sandbox keys."),
    Setting("MYNAPORTAL_TRUST_ANCHORS", "the sandbox roots (development)", "PEM file of the JPKI root "
            "certificates card and phone logins must chain to. Production refuses sandbox roots."),
    Setting("MYNAPORTAL_REVOCATION_SOURCES", "ocsp,crl", "Revocation checks in order of preference: `ocsp`, "
            "`crl` or both (OCSP, falling back to the CRL)."),
    Setting("MYNAPORTAL_REVOCATION_MAX_AGE", "300", "Seconds an OCSP answer or CRL may be reused from the cache "
            "(never past its nextUpdate; revocations this server made apply at once)."),
    Setting("MYNAPORTAL_REFRESH_TOKEN_TTL", "2592000", "Lifetime of a refresh token, in seconds."),
    Setting("MYNAPORTAL_LOGIN_LIMIT_PER_CERTIFICATE", "10", "Login attempts allowed per certificate per window."),
    Setting("MYNAPORTAL_LOGIN_LIMIT_PER_CLIENT", "300", "Login attempts allowed per client (app id) per window."),
    Setting("MYNAPORTAL_LOGIN_LIMIT_WINDOW", "300", "The login rate-limit window, in seconds."),
    Setting("MYNAPORTAL_PAYMENT_GATEWAY_URL", "http://127.0.0.1:8765", "The card/net-banking payment gateway's "
            "API origin (`mynaportal dev-payment-gateway` serves the sandbox one there)."),
    Setting("MYNAPORTAL_CARD_HELPER_URL", "http://127.0.0.1:24727", "Where the web portal's pages reach the "
            "local card helper (`myna-bridge serve`) on a person's PC; it must be a loopback http:// address."),
    Setting("MYNAPORTAL_PAYMENT_GATEWAY_SECRET", "a demo secret (development)", "Shared secret with the payment "
            "gateway: API bearer key and HMAC key of its notifications. Required in production, which refuses "
            "the demo secret."),
    Setting("MYNAPORTAL_PAYMENT_CALLBACK_KEY", "a demo key (development)", "Master key from which each agency's "
            "Standard Webhooks signing secret for payment callbacks is derived. Required in production."),
    Setting("MYNAPORTAL_PAYMENT_CALLBACK_PREVIOUS_KEY", "", "During a rotation of the callback master key: the "
            "previous one. Callbacks carry both signatures until it is removed, so agencies switch at their pace."),
    Setting("MYNAPORTAL_LOG_SIGNING_KEYS", "a demo key (development)", "Ed25519 keys that sign the exchange "
            "record log's tree heads, newest first: `2:base64,1:base64` (each the key's 32-byte seed). The first "
            "signs; every generation listed stays published so old heads still verify. Required in production."),
    Setting("MYNAPORTAL_OIDC_SIGNING_KEYS", "a demo key (development)", "P-256 keys (ES256) that sign the OpenID "
            "Provider's ID tokens, newest first: `2:base64,1:base64` (each the 32-byte private scalar). The first "
            "signs; every generation listed stays in the JWKS so tokens signed before a rotation still verify. "
            "Required in production."),
    Setting("MYNAPORTAL_AGENCY_CLIENT_CERTIFICATES", "optional (development), required (production)", "Agency "
            "REST calls (the exchange API) must come with the agency's registered TLS client certificate "
            "(`required`), "
            "or are checked only when they bring one (`optional`). Production refuses `optional`."),
    Setting("MYNAPORTAL_AGENCY_TLS_PORT", "8443", "Port of `mynaportal serve-agencies`, the agency API's "
            "mutual-TLS listener."),
    Setting("MYNAPORTAL_AGENCY_TLS_CERTIFICATE", "", "PEM certificate chain and, in "
            "MYNAPORTAL_AGENCY_TLS_KEY, the key of the agency listener's server certificate."),
    Setting("MYNAPORTAL_AGENCY_TLS_KEY", "", "PEM private key of the agency listener's server certificate."),
    Setting("MYNAPORTAL_AGENCY_CLIENT_CA", "", "PEM bundle of the CAs whose agency client certificates the "
            "agency listener accepts in the TLS handshake (each certificate must also be registered)."),
    Setting("MYNAPORTAL_PAYMENT_SESSION_TTL", "5400", "Seconds a started payment may wait at the gateway's "
            "hosted page before it times out (P0020)."),
)


