"""corporate: PostgreSQL keeps the trigram postings once per statement, not once per row

Migration 0008's row trigger ran a PL/pgSQL function per changed state, each deleting and inserting that
state's postings with statements of its own: a daily diff of 2,000 states spent 2.5 of its 3.4 s in it
(1,500 states stopping being latest at 0.94 ms each, 2,000 becoming it at 0.54 ms). Statement triggers with
transition tables (the rows a statement inserted, deleted or changed) do the same as one DELETE and one
INSERT per statement. The rule is the row trigger's: a state's postings go when it stops being visible or
its sort key or search text changes, and come when it becomes visible or they change. Within a statement
every posting that goes, goes before any comes.

PostgreSQL allows transition tables only on triggers of one event without a column list, hence three
triggers; an UPDATE that changes none of what the postings read changes no posting.

Revision ID: 0037
Revises: 0036
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration states the schema as it was at its revision.
_VISIBLE = "{row}.latest AND coalesce({row}.hihyoji, '0') <> '1' AND {row}.process <> '99'"
_KEY = "length({row}.search_name) * 10000000000000 + {row}.corporate_number::bigint"
# Each with the states first, materialized: left to itself the planner joined an UPDATE's old and new states
# once per posting (a 2,000-state diff took 30 s). No JIT: its compilation cost more than these statements.
_GONE = ("WITH k AS MATERIALIZED ({keys}) DELETE FROM corporation_trigrams AS p USING k, "
         "corporate_trigrams(k.search_text) AS t WHERE k.sort_key IS NOT NULL AND p.trigram = t.code "
         "AND p.sort_key = k.sort_key AND p.position = t.at;")
_COME = ("WITH k AS MATERIALIZED ({keys}) INSERT INTO corporation_trigrams (trigram, sort_key, position) "
         "SELECT t.code, k.sort_key, t.at FROM k, corporate_trigrams(k.search_text) AS t WHERE k.sort_key IS NOT NULL;")
# An UPDATE's states, old and new paired by id, with each side's key when it is visible; only the pairs whose
# key or text changed.
_CHANGED = (  # noqa: S608 (module constants only)
    "SELECT pair.{side}_text AS search_text, pair.{side}_key AS sort_key FROM (SELECT o.search_text AS old_text, "
    "n.search_text AS new_text, CASE WHEN {old_visible} THEN {old_key} END AS old_key, "
    "CASE WHEN {new_visible} THEN {new_key} END AS new_key FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id) "
    "AS pair WHERE pair.old_key IS DISTINCT FROM pair.new_key OR pair.old_text IS DISTINCT FROM pair.new_text"
).format(side="{side}", old_visible=_VISIBLE.format(row="o"), old_key=_KEY.format(row="o"),
         new_visible=_VISIBLE.format(row="n"), new_key=_KEY.format(row="n"))


def _rows(table: str) -> str:
    """Inserted or deleted states with their key when visible."""
    return (f"SELECT r.search_text, CASE WHEN {_VISIBLE.format(row='r')} THEN {_KEY.format(row='r')} END "  # noqa: S608
            f"AS sort_key FROM {table} AS r")


_FOLLOW = f"""
CREATE FUNCTION corporation_trigrams_follow_statement() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_COME.format(keys=_rows('new_rows'))}
    ELSIF TG_OP = 'DELETE' THEN
        {_GONE.format(keys=_rows('old_rows'))}
    ELSE
        {_GONE.format(keys=_CHANGED.format(side='old'))}
        {_COME.format(keys=_CHANGED.format(side='new'))}
    END IF;
    RETURN NULL;
END $$
"""
_TRIGGERS = (
    ("insert", "INSERT", "NEW TABLE AS new_rows"),
    ("update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("delete", "DELETE", "OLD TABLE AS old_rows"),
)

# 0008's row trigger, for the downgrade.
_FOLLOW_0008 = f"""
CREATE FUNCTION corporation_trigrams_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key bigint;
    new_key bigint;
BEGIN
    IF TG_OP <> 'INSERT' AND {_VISIBLE.format(row='OLD')} THEN
        old_key := {_KEY.format(row='OLD')};
    END IF;
    IF TG_OP <> 'DELETE' AND {_VISIBLE.format(row='NEW')} THEN
        new_key := {_KEY.format(row='NEW')};
    END IF;
    IF TG_OP = 'UPDATE' AND old_key IS NOT DISTINCT FROM new_key AND OLD.search_text = NEW.search_text THEN
        RETURN NULL;
    END IF;
    IF old_key IS NOT NULL THEN
        DELETE FROM corporation_trigrams
        WHERE sort_key = old_key AND (trigram, position) IN (SELECT code, at FROM corporate_trigrams(OLD.search_text));
    END IF;
    IF new_key IS NOT NULL THEN
        INSERT INTO corporation_trigrams (trigram, sort_key, position)
        SELECT code, new_key, at FROM corporate_trigrams(NEW.search_text);
    END IF;
    RETURN NULL;
END $$
"""  # noqa: S608 (module constants only)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER corporations_trigrams_follow ON corporations")
    op.execute("DROP FUNCTION corporation_trigrams_follow()")
    op.execute(_FOLLOW)
    for name, event, tables in _TRIGGERS:
        op.execute(f"CREATE TRIGGER corporations_trigrams_{name} AFTER {event} ON corporations REFERENCING {tables} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION corporation_trigrams_follow_statement()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER corporations_trigrams_{name} ON corporations")
    op.execute("DROP FUNCTION corporation_trigrams_follow_statement()")
    op.execute(_FOLLOW_0008)
    op.execute("CREATE TRIGGER corporations_trigrams_follow AFTER INSERT OR DELETE OR UPDATE OF latest, "
               "search_name, search_text, corporate_number, hihyoji, process ON corporations "
               "FOR EACH ROW EXECUTE FUNCTION corporation_trigrams_follow()")
