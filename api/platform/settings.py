"""Typed settings, read from the environment once and validated at start-up.

Only this module reads ``os.environ``; everything else receives a ``Settings``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from api.platform.key_settings import DEMO_KEY_PREFIX, key_generations, root_keys

Environment = Literal["development", "production"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/mynaportal.sqlite3"
DEMO_VAPID_SUBJECT = "mailto:push@example.jp"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SettingsError(ValueError):
    """The environment does not describe a valid configuration; the message lists every problem."""


@dataclass(frozen=True)
class Settings:
    environment: Environment = "development"
    database_url: str = DEFAULT_DATABASE_URL
    data_key: bytes = field(default=b"", repr=False)
    lookup_key: bytes = field(default=b"", repr=False)
    # Key generations newest first; empty: generation 1 is data_key / lookup_key (api.platform.keys).
    data_keys: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    lookup_keys: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    previous_data_keys: tuple[bytes, ...] = field(default=(), repr=False)
    key_source: Literal["settings", "pkcs11"] = "settings"
    pkcs11_module: str = ""
    pkcs11_token: str = ""
    pkcs11_pin: str = field(default="", repr=False)
    graphiql: bool = True
    introspection: bool = True
    persisted_only: bool = False
    operations_dir: Path = PROJECT_ROOT / "graphql" / "operations"
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_document_length: int = 100_000
    # The largest legitimate GraphQL request (a notice of 4,000 characters with its attachments, as UTF-8 with
    # JSON escapes) is under 100 KiB: 1 MiB leaves room and bounds what 30 requests at once can hold.
    max_body_graphql: int = 1 << 20
    max_body_rest: int = 256 << 10
    max_body_webhooks: int = 256 << 10
    # An application's attachment, on every transport (GraphQL's base64, the web form's multipart): its size caps
    # each procedure's own limit, and the edge's body limits of /graphql and the upload pages admit it.
    max_attachment_bytes: int = 5 << 20
    access_token_ttl: timedelta = timedelta(minutes=15)
    session_cache_size: int = 10000
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    vapid_subject: str = DEMO_VAPID_SUBJECT
    push_ca_file: Path | None = None
    corporate_rate: int = 10
    corporate_burst: int = 20
    rate_limit_storage: str = "memory://"
    rate_limit_prefix: str = "mynaportal"
    max_concurrency: int = 0
    public_url: str = "http://127.0.0.1:8000"
    sandbox_ca_dir: Path | None = Path("var/sandbox-ca")
    trust_anchors_file: Path | None = None  # None: the sandbox roots
    certificate_pki_dir: Path | None = Path("var/certificate-pki")  # None: certificates cannot be issued
    revocation_sources: tuple[str, ...] = ("ocsp", "crl")
    revocation_max_age: timedelta = timedelta(minutes=5)
    refresh_token_ttl: timedelta = timedelta(days=30)
    login_limit_per_certificate: int = 10
    login_limit_per_client: int = 300
    login_limit_window: timedelta = timedelta(minutes=5)
    # A session on a shared terminal (a municipal counter, a kiosk) ends after this long unused.
    shared_terminal_idle_timeout: timedelta = timedelta(minutes=5)
    payment_gateway_url: str = "http://127.0.0.1:8765"
    card_helper_url: str = "http://127.0.0.1:24727"
    payment_gateway_secret: str = field(default=DEMO_KEY_PREFIX + "sandbox-payment-gateway", repr=False)
    payment_callback_key: str = field(default=DEMO_KEY_PREFIX + "payment-callbacks", repr=False)
    payment_callback_previous_key: str = field(default="", repr=False)
    payment_session_ttl: timedelta = timedelta(minutes=90)
    # Ed25519 seeds of the records log's tree-head key, newest first; empty: the demo key (api.records.signing).
    log_signing_keys: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    # P-256 scalars of the OpenID Provider's ID-token keys, newest first; empty: the demo key (api.oidc.keys).
    oidc_signing_keys: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)
    # Mutual TLS on the agency API (api.platform.client_tls, api.agencies.client_certificates).
    agency_client_certificates: Literal["optional", "required"] = "optional"
    agency_tls_port: int = 8443
    agency_tls_certificate: Path | None = None
    agency_tls_key: Path | None = None
    agency_client_ca: Path | None = None

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def payment_callback_keys(self) -> tuple[str, ...]:
        """The callback master key, and during its rotation the previous one (both sign)."""
        return (self.payment_callback_key, *filter(None, (self.payment_callback_previous_key,)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        problems: list[str] = []

        environment = env.get("MYNAPORTAL_ENV", "development")
        if environment not in ("development", "production"):
            problems.append(f"MYNAPORTAL_ENV must be 'development' or 'production', not {environment!r}")
            environment = "development"
        production = environment == "production"

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name)
            if raw is None:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            problems.append(f"{name} must be true or false, not {raw!r}")
            return default

        def integer(name: str, default: int, minimum: int = 1) -> int:
            raw = env.get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name} must be an integer, not {raw!r}")
                return default
            if value < minimum:
                problems.append(f"{name} must be at least {minimum}")
            return value

        graphiql = flag("MYNAPORTAL_GRAPHIQL", not production)
        introspection = flag("MYNAPORTAL_INTROSPECTION", not production)
        persisted_only = flag("MYNAPORTAL_PERSISTED_ONLY", production)
        if production:
            if graphiql:
                problems.append("production refuses MYNAPORTAL_GRAPHIQL=true")
            if introspection:
                problems.append("production refuses MYNAPORTAL_INTROSPECTION=true")
            if not persisted_only:
                problems.append("production refuses MYNAPORTAL_PERSISTED_ONLY=false")

        keys = root_keys(env, production, problems)
        if len(keys) == 2 and keys["MYNAPORTAL_DATA_KEY"] == keys["MYNAPORTAL_LOOKUP_KEY"]:
            problems.append("MYNAPORTAL_DATA_KEY and MYNAPORTAL_LOOKUP_KEY must differ")

        generations = {name: key_generations(env.get(name, ""), name, production, problems)
                       for name in ("MYNAPORTAL_DATA_KEYS", "MYNAPORTAL_LOOKUP_KEYS", "MYNAPORTAL_LOG_SIGNING_KEYS",
                                   "MYNAPORTAL_OIDC_SIGNING_KEYS")}
        previous_roots = tuple(key for _, key in key_generations(
            ",".join(f"{i}:{raw.strip()}" for i, raw in
                     enumerate(filter(None, env.get("MYNAPORTAL_PREVIOUS_DATA_KEYS", "").split(",")), 1)),
            "MYNAPORTAL_PREVIOUS_DATA_KEYS", production, problems))
        key_source = env.get("MYNAPORTAL_KEY_SOURCE", "settings")
        pkcs11_pin = env.get("MYNAPORTAL_HSM_PIN", "")
        if env.get("MYNAPORTAL_HSM_PIN_FILE"):
            pkcs11_pin = Path(env["MYNAPORTAL_HSM_PIN_FILE"]).read_text().strip()
        if key_source not in ("settings", "pkcs11"):
            problems.append("MYNAPORTAL_KEY_SOURCE must be 'settings' or 'pkcs11'")
        elif key_source == "pkcs11" and not all((env.get("MYNAPORTAL_HSM_MODULE"),
                                                  env.get("MYNAPORTAL_HSM_TOKEN"), pkcs11_pin)):
            problems.append("MYNAPORTAL_KEY_SOURCE=pkcs11 needs MYNAPORTAL_HSM_MODULE, _TOKEN and _PIN")

        log_level = env.get("MYNAPORTAL_LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            problems.append(f"MYNAPORTAL_LOG_LEVEL {log_level!r} is not a log level")

        vapid_subject = env.get("MYNAPORTAL_VAPID_SUBJECT", DEMO_VAPID_SUBJECT)
        if not vapid_subject.startswith(("mailto:", "https://")):
            problems.append("MYNAPORTAL_VAPID_SUBJECT must be a mailto: or https: URI")
        if production and vapid_subject == DEMO_VAPID_SUBJECT:
            problems.append("production refuses the example MYNAPORTAL_VAPID_SUBJECT")

        database_url = normalise_database_url(env.get("MYNAPORTAL_DATABASE_URL", DEFAULT_DATABASE_URL))
        if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            problems.append("MYNAPORTAL_DATABASE_URL must be a sqlite:// or postgresql:// URL")

        public_url = env.get("MYNAPORTAL_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
        if not public_url.startswith(("http://", "https://")):
            problems.append("MYNAPORTAL_PUBLIC_URL must be an http:// or https:// URL")
        raw_ca_dir = env.get("MYNAPORTAL_SANDBOX_CA_DIR")
        sandbox_ca_dir = Path(raw_ca_dir) if raw_ca_dir else (None if production else Path("var/sandbox-ca"))
        if production and sandbox_ca_dir is not None:
            problems.append("production refuses the sandbox CA (MYNAPORTAL_SANDBOX_CA_DIR)")
        raw_pki_dir = env.get("MYNAPORTAL_CERTIFICATE_PKI_DIR")
        certificate_pki_dir = Path(raw_pki_dir) if raw_pki_dir else (None if production else
                                                                      Path("var/certificate-pki"))
        # Without anchors in production, card login answers CARD_LOGIN_UNAVAILABLE (the portal still serves).
        raw_anchors = env.get("MYNAPORTAL_TRUST_ANCHORS")
        revocation_sources = tuple(s.strip() for s in env.get("MYNAPORTAL_REVOCATION_SOURCES", "ocsp,crl").split(","))
        if not revocation_sources or not set(revocation_sources) <= {"ocsp", "crl"}:
            problems.append("MYNAPORTAL_REVOCATION_SOURCES must list ocsp and/or crl")
        payment_gateway_url = env.get("MYNAPORTAL_PAYMENT_GATEWAY_URL", "http://127.0.0.1:8765").rstrip("/")
        if not payment_gateway_url.startswith(("http://", "https://")):
            problems.append("MYNAPORTAL_PAYMENT_GATEWAY_URL must be an http:// or https:// URL")
        card_helper_url = env.get("MYNAPORTAL_CARD_HELPER_URL", "http://127.0.0.1:24727").rstrip("/")
        if not card_helper_url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
            problems.append("MYNAPORTAL_CARD_HELPER_URL must be a loopback http:// address with a port")
        payment_secrets: dict[str, str] = {}
        for name, demo in (("MYNAPORTAL_PAYMENT_GATEWAY_SECRET", "sandbox-payment-gateway"),
                           ("MYNAPORTAL_PAYMENT_CALLBACK_KEY", "payment-callbacks")):
            raw = env.get(name) or ("" if production else DEMO_KEY_PREFIX + demo)
            if production and (not raw or raw.startswith(DEMO_KEY_PREFIX)):
                problems.append(f"{name} is required in production and must not be a demo key")
            elif len(raw.removeprefix(DEMO_KEY_PREFIX)) < 16:
                problems.append(f"{name} must be at least 16 characters")
            payment_secrets[name] = raw
        if production and env.get("MYNAPORTAL_PAYMENT_CALLBACK_PREVIOUS_KEY", "").startswith(DEMO_KEY_PREFIX):
            problems.append("production refuses a demo key in MYNAPORTAL_PAYMENT_CALLBACK_PREVIOUS_KEY")

        if not env.get("MYNAPORTAL_RATE_LIMIT_STORAGE", "memory://").startswith(
                ("memory://", "redis://", "rediss://", "unix://")):
            problems.append("MYNAPORTAL_RATE_LIMIT_STORAGE must be memory:// or redis://host:port/db")
        agency_certificates = env.get("MYNAPORTAL_AGENCY_CLIENT_CERTIFICATES", "required" if production else "optional")
        if agency_certificates not in ("optional", "required"):
            problems.append("MYNAPORTAL_AGENCY_CLIENT_CERTIFICATES must be 'optional' or 'required'")
        elif production and agency_certificates != "required":
            problems.append("production refuses MYNAPORTAL_AGENCY_CLIENT_CERTIFICATES=optional")
        agency_files = {name: Path(env[name]) if env.get(name) else None for name in (
            "MYNAPORTAL_AGENCY_TLS_CERTIFICATE", "MYNAPORTAL_AGENCY_TLS_KEY", "MYNAPORTAL_AGENCY_CLIENT_CA")}
        settings = cls(
            environment=environment,  # type: ignore[arg-type]
            database_url=database_url,
            data_key=keys.get("MYNAPORTAL_DATA_KEY", b""),
            lookup_key=keys.get("MYNAPORTAL_LOOKUP_KEY", b""),
            data_keys=generations["MYNAPORTAL_DATA_KEYS"],
            previous_data_keys=previous_roots,
            lookup_keys=generations["MYNAPORTAL_LOOKUP_KEYS"],
            key_source=key_source,  # type: ignore[arg-type]
            pkcs11_module=env.get("MYNAPORTAL_HSM_MODULE", ""),
            pkcs11_token=env.get("MYNAPORTAL_HSM_TOKEN", ""),
            pkcs11_pin=pkcs11_pin,
            graphiql=graphiql,
            introspection=introspection,
            persisted_only=persisted_only,
            operations_dir=Path(env.get("MYNAPORTAL_OPERATIONS_DIR", str(cls.operations_dir))),
            max_depth=integer("MYNAPORTAL_MAX_DEPTH", 10),
            max_aliases=integer("MYNAPORTAL_MAX_ALIASES", 15, minimum=0),
            max_tokens=integer("MYNAPORTAL_MAX_TOKENS", 2000),
            max_document_length=integer("MYNAPORTAL_MAX_DOCUMENT_LENGTH", 100_000),
            max_body_graphql=integer("MYNAPORTAL_MAX_BODY_GRAPHQL", 1 << 20, minimum=1024),
            max_body_rest=integer("MYNAPORTAL_MAX_BODY_REST", 256 << 10, minimum=1024),
            max_body_webhooks=integer("MYNAPORTAL_MAX_BODY_WEBHOOKS", 256 << 10, minimum=1024),
            max_attachment_bytes=integer("MYNAPORTAL_MAX_ATTACHMENT_BYTES", 5 << 20, minimum=1024),
            access_token_ttl=timedelta(seconds=integer("MYNAPORTAL_ACCESS_TOKEN_TTL", 900)),
            session_cache_size=integer("MYNAPORTAL_SESSION_CACHE_SIZE", 10000, minimum=0),
            log_level=log_level,
            host=env.get("MYNAPORTAL_HOST", "127.0.0.1"),
            port=integer("MYNAPORTAL_PORT", 8000),
            workers=integer("MYNAPORTAL_WORKERS", 1),
            vapid_subject=vapid_subject,
            push_ca_file=Path(env["MYNAPORTAL_PUSH_CA_FILE"]) if env.get("MYNAPORTAL_PUSH_CA_FILE") else None,
            corporate_rate=integer("MYNAPORTAL_CORPORATE_RATE", 10),
            corporate_burst=integer("MYNAPORTAL_CORPORATE_BURST", 20),
            rate_limit_storage=env.get("MYNAPORTAL_RATE_LIMIT_STORAGE", "memory://"),
            rate_limit_prefix=env.get("MYNAPORTAL_RATE_LIMIT_PREFIX", "mynaportal"),
            max_concurrency=integer("MYNAPORTAL_MAX_CONCURRENCY", 0, minimum=0),
            public_url=public_url,
            sandbox_ca_dir=sandbox_ca_dir,
            certificate_pki_dir=certificate_pki_dir,
            trust_anchors_file=Path(raw_anchors) if raw_anchors else None,
            revocation_sources=revocation_sources,
            revocation_max_age=timedelta(seconds=integer("MYNAPORTAL_REVOCATION_MAX_AGE", 300, minimum=0)),
            refresh_token_ttl=timedelta(seconds=integer("MYNAPORTAL_REFRESH_TOKEN_TTL", 2592000)),
            login_limit_per_certificate=integer("MYNAPORTAL_LOGIN_LIMIT_PER_CERTIFICATE", 10),
            login_limit_per_client=integer("MYNAPORTAL_LOGIN_LIMIT_PER_CLIENT", 300),
            login_limit_window=timedelta(seconds=integer("MYNAPORTAL_LOGIN_LIMIT_WINDOW", 300)),
            shared_terminal_idle_timeout=timedelta(
                seconds=integer("MYNAPORTAL_SHARED_TERMINAL_IDLE_TIMEOUT", 300, minimum=60)),
            payment_gateway_url=payment_gateway_url,
            card_helper_url=card_helper_url,
            payment_gateway_secret=payment_secrets["MYNAPORTAL_PAYMENT_GATEWAY_SECRET"],
            payment_callback_key=payment_secrets["MYNAPORTAL_PAYMENT_CALLBACK_KEY"],
            payment_callback_previous_key=env.get("MYNAPORTAL_PAYMENT_CALLBACK_PREVIOUS_KEY", ""),
            payment_session_ttl=timedelta(seconds=integer("MYNAPORTAL_PAYMENT_SESSION_TTL", 5400, minimum=60)),
            log_signing_keys=generations["MYNAPORTAL_LOG_SIGNING_KEYS"],
            oidc_signing_keys=generations["MYNAPORTAL_OIDC_SIGNING_KEYS"],
            agency_client_certificates=agency_certificates,  # type: ignore[arg-type]
            agency_tls_port=integer("MYNAPORTAL_AGENCY_TLS_PORT", 8443),
            agency_tls_certificate=agency_files["MYNAPORTAL_AGENCY_TLS_CERTIFICATE"],
            agency_tls_key=agency_files["MYNAPORTAL_AGENCY_TLS_KEY"],
            agency_client_ca=agency_files["MYNAPORTAL_AGENCY_CLIENT_CA"],
        )
        if problems:
            raise SettingsError("invalid settings:\n- " + "\n- ".join(problems))
        return settings


def settings_for_command() -> Settings:
    """The settings of a `mynaportal` command: invalid ones end it with every problem listed (exit status 1)."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        sys.exit(f"mynaportal: {error}")


def normalise_database_url(url: str) -> str:
    """Map plain URLs to the async drivers, so users can paste the URL they know."""
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"), ("postgresql://", "postgresql+psycopg://"),
                          ("postgres://", "postgresql+psycopg://")):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url
