"""GET /metrics: request latency by route template and by persisted operation, and the database's figures."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.platform.db import create_session_factory
from payments.models import Payment
from tests.api.conftest import Portal, operation


async def scrape(portal: Portal) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await portal.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def count(samples: dict, name: str, **labels: str) -> float:
    return samples.get((f"{name}_count", tuple(sorted(labels.items()))), 0.0)


async def test_requests_are_timed_by_route_template_and_operation_name(portal: Portal) -> None:
    before = await scrape(portal)
    viewer = await portal.query(operation("Viewer"), token=portal.father_token)
    assert viewer["data"]["viewer"]["name"] == "山田 太郎"
    assert "errors" not in await portal.query("{ viewer { name } }", token=portal.father_token)
    assert (await portal.client.get("/corporate/4/num", params={"type": "21"})).status_code == 404
    assert (await portal.client.get("/payments/v1/payments/not-a-uuid")).status_code in (401, 404)
    assert (await portal.client.get("/no/such/path/123")).status_code == 404
    after = await scrape(portal)

    def grew(name: str, **labels: str) -> float:
        return count(after, name, **labels) - count(before, name, **labels)

    http = "mynaportal_http_request_duration_seconds"
    assert grew(http, method="POST", route="/graphql", status="200") == 2
    assert grew(http, method="GET", route="/corporate/4/num", status="404") == 1
    assert grew(http, method="GET", route="/no/such/path/123", status="404") == 0  # never the path sent
    assert grew(http, method="GET", route="unmatched", status="404") == 1
    assert grew(http, method="GET", route="/metrics", status="200") == 1  # the first scrape
    graphql = "mynaportal_graphql_operation_duration_seconds"
    assert grew(graphql, operation="Viewer") == 1
    assert grew(graphql, operation="other") == 1  # an ad-hoc document: a bounded label


async def test_queue_depths_push_outcomes_and_payment_states_come_from_the_database(
        portal: Portal, engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":  # payment states are estimates there, as of the last ANALYZE
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE payments"))
    samples = await scrape(portal)
    depth = {labels: value for (name, labels), value in samples.items() if name == "mynaportal_queue_depth"}
    assert depth == {
        (("queue", "notice_deliveries_webpush"), ("state", "pending")): 0.0,
        (("queue", "notice_deliveries_webpush"), ("state", "sending")): 0.0,
        (("queue", "notice_deliveries_webhook"), ("state", "pending")): 0.0,
        (("queue", "notice_deliveries_webhook"), ("state", "sending")): 0.0,
        (("queue", "payment_callbacks"), ("state", "pending")): 0.0,
        (("queue", "record_log_sequencer"), ("state", "pending")): 0.0,
    }
    async with create_session_factory(engine)() as session:
        by_state = dict((await session.execute(select(Payment.state, func.count()).group_by(Payment.state))).all())
    payments = {dict(labels)["state"]: value for (name, labels), value in samples.items()
                if name == "mynaportal_payments"}
    assert payments == {str(state): float(n) for state, n in by_state.items()}


FIGURES = {"mynaportal_queue_depth": ["queue", "state"], "mynaportal_push_deliveries": ["state", "status_code"],
           "mynaportal_payments": ["state"]}


async def test_the_figures_keep_their_names_and_postgresql_counts_no_whole_table(
        portal: Portal, engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:  # as autovacuum does: the estimates need statistics
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE payments, notice_deliveries"))
    statements: list[str] = []

    def seen(_connection, _cursor, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(portal.app.state.engine.sync_engine, "before_cursor_execute", seen)
    try:
        answer = await portal.client.get("/metrics")
    finally:
        event.remove(portal.app.state.engine.sync_engine, "before_cursor_execute", seen)
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    assert {name: families[name].type for name in FIGURES} == dict.fromkeys(FIGURES, "gauge")
    assert {name: sorted({label for sample in families[name].samples for label in sample.labels})
            for name in FIGURES} == {"mynaportal_queue_depth": ["queue", "state"],
                                     "mynaportal_push_deliveries": [], "mynaportal_payments": []}  # none yet
    whole_tables = [statement for statement in statements if "FROM payments GROUP BY" in statement
                    or "GROUP BY notice_deliveries.state, notice_deliveries.last_status_code" in statement]
    # SQLite counts (one machine); PostgreSQL reads the planner's statistics instead.
    assert len(whole_tables) == (0 if engine.dialect.name == "postgresql" else 2)
    assert any("notice_deliveries" in statement for statement in statements)  # the queue depths: exact counts
