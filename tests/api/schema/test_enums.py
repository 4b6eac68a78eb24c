"""GraphQL enums that mirror a domain enum must not drift: a domain value without a GraphQL value would
turn into an INTERNAL error the first time a row carries it."""

from __future__ import annotations

from enum import Enum

import pytest

from api.agencies.models import AgencyKind
from api.people.models import Sex
from api.schema.agencies import AgencyKindType
from api.schema.payments import OrderStateType, PaymentMethodType, PaymentStatusType
from api.schema.people import SexType
from payments.models import OrderState, PaymentMethod, PaymentState


@pytest.mark.parametrize(("graphql_enum", "domain_enum"), [
    (SexType, Sex), (AgencyKindType, AgencyKind), (OrderStateType, OrderState),
    (PaymentStatusType, PaymentState), (PaymentMethodType, PaymentMethod),
], ids=lambda e: e.__name__)
def test_mirrored_enums_have_the_same_values(graphql_enum: type[Enum], domain_enum: type[Enum]) -> None:
    assert {member.value for member in graphql_enum} == {member.value for member in domain_enum}
