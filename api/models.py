"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from collections.abc import Callable

from api.agencies.models import Agency, AgencyCredential, AgencyKind, AgencyPersonCode
from api.applications.models import (
    Application,
    ApplicationAttachment,
    ApplicationEvent,
    AttachmentChunk,
    InboxIdempotency,
    MunicipalStaff,
    ProcedureOffering,
    PublicBenefitAccount,
)
from api.applications.staff_sessions import StaffWebSession
from api.certificates.models import CertificateIssuance, Kiosk, KioskSession
from api.certificates.registers import (
    AddressHistory,
    CertificateOffice,
    FamilyRegister,
    FamilyRegisterMember,
    ResidentRecord,
    SealRegistration,
    TaxAssessment,
)
from api.exchange.models import ExchangeCopy, ExchangeEndpoint, ExchangeRecord
from api.history.entries import ACCESS_TIME, EXCHANGE_TIME
from api.history.retention import QUERY_ID_UNIQUE, is_partition
from api.identity.login_models import DeviceAuthorization, LoginChallenge, RefreshToken
from api.identity.models import SessionToken
from api.identity.pki_models import Card, CardLossReport, IssuedCertificate, PhoneCredential
from api.identity.web_sessions import PersonWebSession
from api.notices.models import (
    DeliveryService,
    DeliveryServiceLink,
    Notice,
    NoticeAttachment,
    NoticeDelivery,
    NoticeExpansion,
    NoticeRecipient,
    Procedure,
    ProcedureCompletion,
    ReminderRun,
)
from api.oidc.models import OidcAuthorizationCode, OidcClient, OidcConsent, OidcLoginRequest, OidcSeenJwt, OidcToken
from api.people.models import Municipality, ParentChild, Person, Sex
from api.platform.access_records import AccessRecord
from api.platform.db import Base
from api.platform.replay import WebhookReceipt
from api.proxies.models import ProxyGrant
from api.records.models import LogLeaf, LogNode, TreeHeadRow
from api.selfinfo.models import CorrectionRequest, SelfInfoExport
from corporate.models import ApplicationId, ApplicationUsage, Corporation
from corporate.models import include_name as corporate_include_name
from payments.gateways.sandbox_models import SandboxNotificationRow, SandboxRefundRow, SandboxSessionRow
from payments.models import (
    BankReceipt,
    CallbackAttempt,
    CallbackEndpoint,
    CallbackMessage,
    IdempotencyKey,
    LedgerEntry,
    LedgerJournal,
    Payment,
    PaymentEvent,
    PaymentOrder,
    Refund,
)
from push.models import PushSubscription, VapidKey


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic hook: tables the migrations own (the corporate search index, the record's month partitions on
    PostgreSQL) are left out of comparisons with the models."""
    if type_ == "table" and is_partition(name):
        return False
    return corporate_include_name(name, type_, parent_names)


def comparison_options(dialect: str) -> dict[str, Callable[..., bool]]:
    """Alembic's comparison hooks for a database of this dialect. On PostgreSQL the partitioned exchange_records
    can only hold UNIQUE (query_id, requested_at), as a unique key must include the partition key (migration
    0016): that one constraint is left out there, on both sides; SQLite keeps and compares UNIQUE (query_id)."""
    if dialect != "postgresql":
        return {"include_name": include_name}

    def include_object(item: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return not (type_ == "unique_constraint" and name == QUERY_ID_UNIQUE)

    return {"include_name": include_name, "include_object": include_object}


__all__ = [
    "ACCESS_TIME",
    "EXCHANGE_TIME",
    "AccessRecord",
    "AddressHistory",
    "Agency",
    "AgencyCredential",
    "AgencyKind",
    "AgencyPersonCode",
    "Application",
    "ApplicationAttachment",
    "ApplicationEvent",
    "ApplicationId",
    "ApplicationUsage",
    "AttachmentChunk",
    "BankReceipt",
    "Base",
    "CallbackAttempt",
    "CallbackEndpoint",
    "CallbackMessage",
    "Card",
    "CardLossReport",
    "CertificateIssuance",
    "CertificateOffice",
    "Corporation",
    "CorrectionRequest",
    "DeliveryService",
    "DeliveryServiceLink",
    "DeviceAuthorization",
    "ExchangeCopy",
    "ExchangeEndpoint",
    "ExchangeRecord",
    "FamilyRegister",
    "FamilyRegisterMember",
    "IdempotencyKey",
    "InboxIdempotency",
    "IssuedCertificate",
    "Kiosk",
    "KioskSession",
    "LedgerEntry",
    "LedgerJournal",
    "LogLeaf",
    "LogNode",
    "LoginChallenge",
    "MunicipalStaff",
    "Municipality",
    "Notice",
    "NoticeAttachment",
    "NoticeDelivery",
    "NoticeExpansion",
    "NoticeRecipient",
    "OidcAuthorizationCode",
    "OidcClient",
    "OidcConsent",
    "OidcLoginRequest",
    "OidcSeenJwt",
    "OidcToken",
    "ParentChild",
    "Payment",
    "PaymentEvent",
    "PaymentOrder",
    "Person",
    "PersonWebSession",
    "PhoneCredential",
    "Procedure",
    "ProcedureCompletion",
    "ProcedureOffering",
    "ProxyGrant",
    "PublicBenefitAccount",
    "PushSubscription",
    "RefreshToken",
    "Refund",
    "ReminderRun",
    "ResidentRecord",
    "SandboxNotificationRow",
    "SandboxRefundRow",
    "SandboxSessionRow",
    "SealRegistration",
    "SelfInfoExport",
    "SessionToken",
    "Sex",
    "StaffWebSession",
    "TaxAssessment",
    "TreeHeadRow",
    "VapidKey",
    "WebhookReceipt",
]
