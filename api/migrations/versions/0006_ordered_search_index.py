"""corporate: the SQLite name-search index keyed by search order

The FTS5 trigram index of the search keys gets a rowid that says where a row sorts, instead of the
row's id: for a corporation's current state, name length x 10^13 + corporate number (the order of
partial matches, so a search reads its first page off the index in order and stops, and counts
current matches without reading a row); for a past state, minus its id. Hidden (hihyoji) and deleted
states, which no search returns, are left out. The index's content is a view that computes the key;
triggers keep it in step, removing a row's entry before its key changes. PostgreSQL is unchanged.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration states the schema as it was at its revision.
_VISIBLE = "coalesce({row}.hihyoji, '0') <> '1' AND {row}.process <> '99'"
_KEY = ("CASE WHEN {row}.latest THEN length({row}.search_name) * 10000000000000 + CAST({row}.corporate_number "
        "AS INTEGER) ELSE -{row}.id END")
_TRIGGERS = ("insert", "delete", "update")


def _old_triggers() -> list[str]:
    return [
        "CREATE TRIGGER corporations_search_insert AFTER INSERT ON corporations BEGIN "
        "INSERT INTO corporation_search(rowid, search_text) VALUES (new.id, new.search_text); END",
        "CREATE TRIGGER corporations_search_delete AFTER DELETE ON corporations BEGIN "
        "INSERT INTO corporation_search(corporation_search, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); END",
        "CREATE TRIGGER corporations_search_update AFTER UPDATE OF search_text ON corporations BEGIN "
        "INSERT INTO corporation_search(corporation_search, rowid, search_text) "
        "VALUES ('delete', old.id, old.search_text); "
        "INSERT INTO corporation_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    ]


def _new_triggers() -> list[str]:
    old_key, new_key = _KEY.format(row="old"), _KEY.format(row="new")
    old_visible, new_visible = _VISIBLE.format(row="old"), _VISIBLE.format(row="new")
    remove = ("INSERT INTO corporation_search(corporation_search, rowid, search_text) "
              f"SELECT 'delete', {old_key}, old.search_text WHERE {old_visible};")
    add = f"INSERT INTO corporation_search(rowid, search_text) SELECT {new_key}, new.search_text WHERE {new_visible};"
    return [
        f"CREATE TRIGGER corporations_search_insert AFTER INSERT ON corporations BEGIN {add} END",
        f"CREATE TRIGGER corporations_search_delete AFTER DELETE ON corporations BEGIN {remove} END",
        # Every column the key or the visibility reads: the old entry goes before the new one comes.
        "CREATE TRIGGER corporations_search_update AFTER UPDATE OF latest, search_name, search_text, "
        f"corporate_number, hihyoji, process ON corporations BEGIN {remove} {add} END",
    ]


def _replace_index(content: str, rowid: str, triggers: list[str]) -> None:
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS corporations_search_{trigger}")
    op.execute("DROP TABLE IF EXISTS corporation_search")
    op.execute(f"CREATE VIRTUAL TABLE corporation_search USING fts5(search_text, content='{content}', "
               f"content_rowid='{rowid}', tokenize='trigram', detail='none')")
    for trigger in triggers:
        op.execute(trigger)
    op.execute("INSERT INTO corporation_search(corporation_search) VALUES ('rebuild')")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    op.execute("CREATE VIEW corporation_search_rows AS SELECT "  # noqa: S608 (module constants only)
               f"{_KEY.format(row='corporations')} AS search_order, search_text FROM corporations "
               f"WHERE {_VISIBLE.format(row='corporations')}")
    _replace_index("corporation_search_rows", "search_order", _new_triggers())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    _replace_index("corporations", "id", _old_triggers())
    op.execute("DROP VIEW corporation_search_rows")
