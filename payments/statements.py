"""The payment path's statements, built once per process and executed with parameters.

A statement built per call costs its construction and its cache key (SQLAlchemy looks the compiled form up by
it) every time; a module-level one computes its cache key once. py-spy put construction and cache keys at
about a tenth of the portal's CPU per payment (tests/benchmarks/bench_payments.py). All are Core statements on
the tables: nothing reads an ORM object back from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from api.agencies.models import AgencyPersonCode
from payments.models import (
    CallbackEndpoint,
    CallbackMessage,
    IdempotencyKey,
    LedgerEntry,
    LedgerJournal,
    OrderState,
    Payment,
    PaymentEvent,
    PaymentOrder,
    PaymentState,
)

EVENTS, ORDERS, PAYMENTS = PaymentEvent.__table__, PaymentOrder.__table__, Payment.__table__
KEYS, MESSAGES = IdempotencyKey.__table__, CallbackMessage.__table__
JOURNALS, ENTRIES = LedgerJournal.__table__, LedgerEntry.__table__
CODES, ENDPOINTS = AgencyPersonCode.__table__, CallbackEndpoint.__table__


class PerDialect:
    """An ``INSERT … ON CONFLICT DO NOTHING`` (its dialect's construct), built once per dialect."""

    def __init__(self, build: Callable[[Callable[[Any], Any]], Any]) -> None:
        self.build = build
        self.built: dict[str, Any] = {}

    def __call__(self, session: AsyncSession) -> Any:
        name = session.get_bind().dialect.name
        statement = self.built.get(name)
        if statement is None:
            statement = self.built[name] = self.build(postgresql.insert if name == "postgresql" else sqlite.insert)
        return statement


# Parameters: the columns' names (an INSERT takes the columns its parameters name).
ADD_EVENT = insert(EVENTS)
ADD_MESSAGE = insert(MESSAGES)
ADD_ENTRIES = insert(ENTRIES)  # executemany: one parameter set per line
CLAIM_KEY = PerDialect(lambda insert_: insert_(KEYS).on_conflict_do_nothing().returning(KEYS.c.key))
ADD_JOURNAL = PerDialect(lambda insert_: insert_(JOURNALS).on_conflict_do_nothing().returning(JOURNALS.c.id))

# The agency's reference for the order, its code for the person, and whether it has a callback endpoint.
_CODE = (select(CODES.c.code).where(CODES.c.agency_id == bindparam("agency"), CODES.c.person_id == bindparam("person"))
         .scalar_subquery())
_ENDPOINT = exists().where(ENDPOINTS.c.agency_id == bindparam("agency"))
AGENCY_VIEW = select(ORDERS.c.agency_reference, _CODE, _ENDPOINT).where(ORDERS.c.id == bindparam("order"))
# The order paid by the payment, if still open; what the agency's view needs comes back with it (no SELECT).
SETTLE_ORDER = (update(ORDERS).where(ORDERS.c.id == bindparam("order"), ORDERS.c.state == OrderState.OPEN)
                .values(state=OrderState.PAID, paid_payment_id=bindparam("payment"), closed_at=bindparam("at"))
                .returning(ORDERS.c.agency_reference, _CODE, _ENDPOINT))
MARK_PAID = update(PAYMENTS).where(PAYMENTS.c.id == bindparam("payment")).values(paid_order_id=bindparam("order"))


_TRANSITIONS: dict[tuple[Any, ...], Any] = {}


def transition(to: PaymentState, earlier: tuple[PaymentState, ...], columns: tuple[str, ...], *, reference: bool,
               match: bool) -> Any:
    """The payment's conditional move to ``to`` (an ORM UPDATE … RETURNING the payment), one per shape.

    Parameters (none named as a column: an UPDATE would take such a parameter as a value to set): ``t_payment``;
    each of ``columns`` as ``set_<name>``; ``t_reference`` (if ``reference``: the payment takes it unless it has
    one); if ``match``, ``t_amount`` and ``t_match_reference``: the gateway session must have the payment's amount,
    and its reference unless the payment has none yet."""
    shape = (to, earlier, columns, reference, match)
    statement = _TRANSITIONS.get(shape)
    if statement is None:
        conditions = [Payment.id == bindparam("t_payment"), Payment.state.in_(earlier)]
        if match:
            conditions += [Payment.amount == bindparam("t_amount"),
                           or_(Payment.gateway_reference.is_(None),
                               Payment.gateway_reference == bindparam("t_match_reference"))]
        values: dict[str, Any] = {name: bindparam(f"set_{name}", type_=PAYMENTS.c[name].type) for name in columns}
        if reference:
            values["gateway_reference"] = func.coalesce(
                Payment.gateway_reference, bindparam("t_reference", type_=PAYMENTS.c.gateway_reference.type))
        statement = _TRANSITIONS[shape] = (
            update(Payment).where(*conditions).values(state=to, **values).returning(Payment)
            .execution_options(populate_existing=True, synchronize_session=False))
    return statement
