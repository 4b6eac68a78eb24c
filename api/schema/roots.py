"""The root types, merged from each domain's own Query, Mutation and Subscription classes.

A domain adds its classes here (and its Node types to NODE_TYPES in api.schema.query); nothing else
in the schema package needs to change.
"""

from __future__ import annotations

from strawberry.tools import merge_types

from api.schema.agencies import AgencyType
from api.schema.applications import ApplicationsMutation, ApplicationsQuery
from api.schema.certificates import CertificatesMutation, CertificatesQuery
from api.schema.corporate import CorporateMutation, CorporateQuery
from api.schema.exchange import ExchangeMutation, ExchangeQuery
from api.schema.history import HistoryQuery, HistorySubscription
from api.schema.identity import IdentityMutation, IdentityQuery
from api.schema.notice_mutations import NoticesMutation
from api.schema.notices import NoticesQuery, NoticesSubscription, NoticeType
from api.schema.oidc import OidcMutation, OidcQuery
from api.schema.payment_mutations import PaymentsMutation
from api.schema.payments import PaymentOrderType, PaymentsQuery, PaymentType
from api.schema.people import PersonType
from api.schema.proxies import ProxyMutation, ProxyQuery
from api.schema.query import Query as PeopleQuery
from api.schema.selfinfo import SelfInfoMutation, SelfInfoQuery

QUERIES: tuple[type, ...] = (PeopleQuery, ProxyQuery, CorporateQuery, PaymentsQuery, NoticesQuery, ExchangeQuery,
                               HistoryQuery, SelfInfoQuery, ApplicationsQuery, OidcQuery, CertificatesQuery,
                               IdentityQuery)
MUTATIONS: tuple[type, ...] = (IdentityMutation, ProxyMutation, CorporateMutation, PaymentsMutation, NoticesMutation,
                                 ExchangeMutation, SelfInfoMutation, ApplicationsMutation, OidcMutation,
                                 CertificatesMutation)
SUBSCRIPTIONS: tuple[type, ...] = (NoticesSubscription, HistorySubscription)
# Types reachable only through interfaces (node(id:)) must be named to the schema.
EXTRA_TYPES: tuple[type, ...] = (PersonType, AgencyType, PaymentOrderType, PaymentType, NoticeType)


def query_type() -> type:
    return merge_types("Query", QUERIES)


def mutation_type() -> type | None:
    return merge_types("Mutation", MUTATIONS) if MUTATIONS else None


def subscription_type() -> type | None:
    return merge_types("Subscription", SUBSCRIPTIONS) if SUBSCRIPTIONS else None
