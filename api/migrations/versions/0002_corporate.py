"""corporate numbers: corporations, their history, name search, application ids

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "corporations",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("corporate_number", sa.String(length=13), nullable=False),
        sa.Column("sequence_number", sa.Integer(), nullable=False),
        sa.Column("process", sa.String(length=2), nullable=False),
        sa.Column("correct", sa.String(length=1), nullable=True),
        sa.Column("update_date", sa.Date(), nullable=False),
        sa.Column("change_date", sa.Date(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("name_image_id", sa.String(length=8), nullable=True),
        sa.Column("kind", sa.String(length=3), nullable=True),
        sa.Column("prefecture_name", sa.Text(), nullable=True),
        sa.Column("city_name", sa.Text(), nullable=True),
        sa.Column("street_number", sa.Text(), nullable=True),
        sa.Column("address_image_id", sa.String(length=8), nullable=True),
        sa.Column("prefecture_code", sa.String(length=2), nullable=True),
        sa.Column("city_code", sa.String(length=3), nullable=True),
        sa.Column("post_code", sa.String(length=7), nullable=True),
        sa.Column("address_outside", sa.Text(), nullable=True),
        sa.Column("address_outside_image_id", sa.String(length=8), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("close_cause", sa.String(length=2), nullable=True),
        sa.Column("successor_corporate_number", sa.String(length=13), nullable=True),
        sa.Column("change_cause", sa.Text(), nullable=True),
        sa.Column("assignment_date", sa.Date(), nullable=True),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.Column("en_name", sa.Text(), nullable=True),
        sa.Column("en_prefecture_name", sa.Text(), nullable=True),
        sa.Column("en_city_name", sa.Text(), nullable=True),
        sa.Column("en_address_outside", sa.Text(), nullable=True),
        sa.Column("furigana", sa.Text(), nullable=True),
        sa.Column("hihyoji", sa.String(length=1), nullable=True),
        sa.Column("record_hash", sa.LargeBinary(length=16), nullable=False),
        sa.Column("search_name", sa.Text(), nullable=False),
        sa.Column("search_kana", sa.Text(), nullable=False),
        sa.Column("search_en", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corporations")),
        sa.UniqueConstraint("corporate_number", "record_hash",
                            name=op.f("uq_corporations_corporate_number_record_hash")),
    )
    op.create_index("ix_corporations_update_date", "corporations", ["update_date"])
    for column in ("search_name", "search_kana", "search_en"):
        # text_pattern_ops lets PostgreSQL use the B-tree for LIKE 'prefix%' whatever the collation.
        op.create_index(f"ix_corporations_{column}", "corporations", [column],
                        postgresql_ops={column: "text_pattern_ops"})
    op.create_index("ix_corporations_search_text_trgm", "corporations", ["search_text"],
                    postgresql_using="gin", postgresql_ops={"search_text": "gin_trgm_ops"})
    if not postgresql:
        # External-content FTS5 over the keys; triggers keep it in step with inserts, updates and deletes.
        op.execute("CREATE VIRTUAL TABLE corporation_search USING fts5(search_text, content='corporations', "
                   "content_rowid='id', tokenize='trigram', detail='none')")
        op.execute("CREATE TRIGGER corporations_search_insert AFTER INSERT ON corporations BEGIN "
                   "INSERT INTO corporation_search(rowid, search_text) VALUES (new.id, new.search_text); END")
        op.execute("CREATE TRIGGER corporations_search_delete AFTER DELETE ON corporations BEGIN "
                   "INSERT INTO corporation_search(corporation_search, rowid, search_text) "
                   "VALUES ('delete', old.id, old.search_text); END")
        op.execute("CREATE TRIGGER corporations_search_update AFTER UPDATE OF search_text ON corporations BEGIN "
                   "INSERT INTO corporation_search(corporation_search, rowid, search_text) "
                   "VALUES ('delete', old.id, old.search_text); "
                   "INSERT INTO corporation_search(rowid, search_text) VALUES (new.id, new.search_text); END")
    op.create_table(
        "corporate_application_ids",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hint", sa.String(length=4), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_corporate_application_ids_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corporate_application_ids")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_corporate_application_ids_key_hash")),
    )
    op.create_index(op.f("ix_corporate_application_ids_person_id"), "corporate_application_ids", ["person_id"])
    op.create_table(
        "corporate_application_usage",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["corporate_application_ids.id"],
                                name="fk_corporate_application_usage_application_id"),
        sa.PrimaryKeyConstraint("application_id", "day", name=op.f("pk_corporate_application_usage")),
    )


def downgrade() -> None:
    op.drop_table("corporate_application_usage")
    op.drop_index(op.f("ix_corporate_application_ids_person_id"), table_name="corporate_application_ids")
    op.drop_table("corporate_application_ids")
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS corporations_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS corporation_search")
    op.drop_table("corporations")  # its indexes go with it
