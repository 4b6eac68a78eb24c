"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from api.agencies.models import Agency, AgencyCredential, AgencyKind, AgencyPersonCode
from api.history.entries import EXCHANGE_PERSON_TIME
from api.history.exchange_records import ExchangeRecord
from api.history.retention import is_partition
from api.identity.login_models import DeviceAuthorization, LoginChallenge, RateLimitCounter, RefreshToken
from api.identity.models import SessionToken
from api.identity.pki_models import Card, CardLossReport, IssuedCertificate, PhoneCredential
from api.notices.models import (
    DeliveryService,
    DeliveryServiceLink,
    Notice,
    NoticeAttachment,
    NoticeDelivery,
    NoticeRecipient,
    Procedure,
    ProcedureCompletion,
    ReminderRun,
)
from api.people.models import Municipality, ParentChild, Person, Sex
from api.platform.access_records import AccessRecord
from api.platform.db import Base
from api.proxies.models import ProxyGrant
from api.selfinfo.models import CorrectionRequest, SelfInfoExport
from corporate.models import ApplicationId, ApplicationUsage, Corporation
from corporate.models import include_name as corporate_include_name
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


__all__ = [
    "EXCHANGE_PERSON_TIME",
    "AccessRecord",
    "Agency",
    "AgencyCredential",
    "AgencyKind",
    "AgencyPersonCode",
    "ApplicationId",
    "ApplicationUsage",
    "BankReceipt",
    "Base",
    "CallbackAttempt",
    "CallbackEndpoint",
    "CallbackMessage",
    "Card",
    "CardLossReport",
    "Corporation",
    "CorrectionRequest",
    "DeliveryService",
    "DeliveryServiceLink",
    "DeviceAuthorization",
    "ExchangeRecord",
    "IdempotencyKey",
    "IssuedCertificate",
    "LedgerEntry",
    "LedgerJournal",
    "LoginChallenge",
    "Municipality",
    "Notice",
    "NoticeAttachment",
    "NoticeDelivery",
    "NoticeRecipient",
    "ParentChild",
    "Payment",
    "PaymentEvent",
    "PaymentOrder",
    "Person",
    "PhoneCredential",
    "Procedure",
    "ProcedureCompletion",
    "ProxyGrant",
    "PushSubscription",
    "RateLimitCounter",
    "RefreshToken",
    "Refund",
    "ReminderRun",
    "SelfInfoExport",
    "SessionToken",
    "Sex",
    "VapidKey",
]
