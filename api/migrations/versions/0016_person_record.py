"""the person's record: month partitions of exchange_records (PostgreSQL), the live feed's trigger, the record's
indexes, 自己情報 exports and correction requests

On PostgreSQL ``exchange_records`` becomes a table partitioned by month of ``requested_at`` (its primary key
then holds ``requested_at`` too, as PostgreSQL requires), with a default partition and one partition per month
from the oldest row to three months ahead; ``mynaportal records purge`` drops the months past 7 years and makes
the coming ones. The conversion copies the table's own columns, checks, foreign keys and indexes by their names,
so the models still match. A trigger on exchange_records and access_records notifies ``record_added`` with the
person's id (the live feed, api.history.feed). SQLite keeps a plain table.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "exchange_records"
OLD = "exchange_records_unpartitioned"
MONTHS_AHEAD = 3


def _month_name(month: date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _partition() -> None:
    bind = op.get_bind()
    fks = bind.execute(sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"), {"t": TABLE}).all()
    uniques = bind.execute(sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"), {"t": TABLE}).all()
    keys = {row[0] for row in bind.execute(sa.text(
        "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u')"),
        {"t": TABLE})}
    indexes = [(name, definition) for name, definition in bind.execute(sa.text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"), {"t": TABLE}) if name not in keys]
    pk = bind.execute(sa.text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
                              "AND contype = 'p'"), {"t": TABLE}).scalar_one()
    for name, _ in indexes:
        op.execute(f'DROP INDEX "{name}"')
    for name, _ in uniques:
        op.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
    op.execute(f'ALTER TABLE {TABLE} RENAME CONSTRAINT "{pk}" TO "{pk}_old"')
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    op.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
               "PARTITION BY RANGE (requested_at)")
    op.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{pk}" PRIMARY KEY (id, requested_at)')
    # A unique key of a partitioned table must hold the partition key: UNIQUE (query_id) becomes
    # UNIQUE (query_id, requested_at) under the same name (api.models.include_name leaves it out of comparisons).
    for name, definition in uniques:
        op.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition[:-1]}, requested_at)')
    for name, definition in fks:
        op.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        op.execute(definition)  # read before the rename: it names the new table
    op.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    oldest = bind.execute(sa.text(f"SELECT min(requested_at) FROM {OLD}")).scalar()  # noqa: S608 (module constants and computed names only)
    today = datetime.now(UTC).date()
    month = date(oldest.year, oldest.month, 1) if oldest else date(today.year, today.month, 1)
    last = date(today.year, today.month, 1)
    for _ in range(MONTHS_AHEAD):
        last = _next(last)
    while month <= last:
        upper = _next(month)
        op.execute(f"CREATE TABLE {_month_name(month)} PARTITION OF {TABLE} "
                   f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{upper.isoformat()} 00:00:00+00')")
        month = upper
    op.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")  # noqa: S608 (module constants and computed names only)
    op.execute(f"DROP TABLE {OLD}")


def _unpartition() -> None:
    bind = op.get_bind()
    fks = bind.execute(sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' AND conparentid = 0"), {"t": TABLE}).all()
    indexes = bind.execute(sa.text(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary AND NOT i.indisunique"), {"t": TABLE}).all()
    pk = bind.execute(sa.text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
                              "AND contype = 'p'"), {"t": TABLE}).scalar_one()
    uniques = bind.execute(sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"), {"t": TABLE}).all()
    for name, _ in uniques:
        op.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    for name, _ in indexes:
        op.execute(f'DROP INDEX "{name}"')
    op.execute(f'ALTER TABLE {OLD} RENAME CONSTRAINT "{pk}" TO "{pk}_old"')
    op.execute(f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{pk}" PRIMARY KEY (id)')
    for name, definition in uniques:
        op.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition.replace(", requested_at)", ")")}')
    for name, definition in fks:
        op.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        op.execute(definition.replace(" ON ONLY ", " ON "))
    op.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD}")  # noqa: S608 (module constants and computed names only)
    op.execute(f"DROP TABLE {OLD} CASCADE")


_NOTIFY = """
CREATE FUNCTION record_added_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('record_added', to_jsonb(NEW) ->> TG_ARGV[0]);
    RETURN NULL;
END
$$
"""
_TRIGGERS = ((TABLE, "person_id"), ("access_records", "subject_person_id"))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index("ix_exchange_records_requested_at", TABLE, ["requested_at"])
    op.create_index("ix_access_records_accessed_at", "access_records", ["accessed_at"])
    if postgres:
        _partition()
        op.execute(_NOTIFY)
        for table, column in _TRIGGERS:
            op.execute(f"CREATE TRIGGER {table}_record_added AFTER INSERT ON {table} FOR EACH ROW "
                       f"EXECUTE FUNCTION record_added_notify('{column}')")
    op.create_table(
        "selfinfo_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_person_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_selfinfo_exports_person_id_persons"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_person_id"], ["persons.id"],
                                name=op.f("fk_selfinfo_exports_requested_by_person_id_persons"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_selfinfo_exports")),
    )
    op.create_index("ix_selfinfo_exports_person_created", "selfinfo_exports", ["person_id", "created_at"])
    op.create_table(
        "correction_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_person_id", sa.Uuid(), nullable=False),
        sa.Column("provider_agency_id", sa.Uuid(), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.Enum("open", "corrected", "rejected", name="correctionstatus", native_enum=False,
                                    create_constraint=True, length=20), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_correction_requests_person_id_persons"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_person_id"], ["persons.id"],
                                name=op.f("fk_correction_requests_requested_by_person_id_persons"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_agency_id"], ["agencies.id"],
                                name=op.f("fk_correction_requests_provider_agency_id_agencies"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction_requests")),
    )
    op.create_index("ix_correction_requests_person_created", "correction_requests", ["person_id", "created_at"])
    op.create_index("ix_correction_requests_queue", "correction_requests",
                    ["provider_agency_id", "status", "created_at"])


def downgrade() -> None:
    op.drop_table("correction_requests")
    op.drop_table("selfinfo_exports")
    if op.get_bind().dialect.name == "postgresql":
        for table, _ in _TRIGGERS:
            op.execute(f"DROP TRIGGER {table}_record_added ON {table}")
        op.execute("DROP FUNCTION record_added_notify()")
        _unpartition()
    op.drop_index("ix_access_records_accessed_at", table_name="access_records")
    op.drop_index("ix_exchange_records_requested_at", table_name=TABLE)
