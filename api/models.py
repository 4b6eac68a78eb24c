"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from api.agencies.models import Agency, AgencyCredential, AgencyKind, AgencyPersonCode
from api.exchange.models import ExchangeCopy, ExchangeEndpoint, ExchangeRecord
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
from api.records.models import LogLeaf, LogNode, TreeHeadRow
from corporate.models import ApplicationId, ApplicationUsage, Corporation
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

__all__ = [
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
    "DeliveryService",
    "DeliveryServiceLink",
    "DeviceAuthorization",
    "ExchangeCopy",
    "ExchangeEndpoint",
    "ExchangeRecord",
    "IdempotencyKey",
    "IssuedCertificate",
    "LedgerEntry",
    "LedgerJournal",
    "LogLeaf",
    "LogNode",
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
    "SessionToken",
    "Sex",
    "TreeHeadRow",
    "VapidKey",
]
