"""corporate: PostgreSQL gets a trigram posting table in search order

pg_trgm's GIN index finds the rows holding a term's trigrams, but it can neither count them nor give
them in any order without reading each row: a common term (285,000 of 5.7 million names) took over a
second for its first page. ``corporation_trigrams`` holds one entry per trigram occurrence in a
current, visible state: (trigram, sort key, position). The sort key says where the state sorts among
partial matches, name length x 10^13 + corporate number, as SQLite's FTS5 rowid does (migration 0006).
Its primary key B-tree gives a trigram's matches in order, so a search reads its first page and stops;
positions make a longer term exact (its trigrams at consecutive positions), so counts come from the
index alone. A trigram is its three code points packed into a bigint (21 bits each): exact, no hash.
Trigrams spanning the U+001F that joins the three search keys are left out (no search key holds one).

``corporation_trigram_rows`` is the table as it should be; a row trigger on ``corporations`` keeps the
table in step, removing a state's entries before its key or keys change, and a TRUNCATE empties it.
The pg_trgm index stays: it serves past names, filtered searches and rare terms.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration states the schema as it was at its revision.
_VISIBLE = "{row}.latest AND coalesce({row}.hihyoji, '0') <> '1' AND {row}.process <> '99'"
_KEY = "length({row}.search_name) * 10000000000000 + {row}.corporate_number::bigint"
# A set-returning SQL function of one SELECT: the planner inlines it into the query that calls it.
_TRIGRAMS = (
    "CREATE FUNCTION corporate_trigrams(t text) RETURNS TABLE (code bigint, at smallint) LANGUAGE sql "
    "IMMUTABLE PARALLEL SAFE AS $$ SELECT (ascii(substr(t, i, 1))::bigint << 42) "
    "| (ascii(substr(t, i + 1, 1))::bigint << 21) | ascii(substr(t, i + 2, 1)), i::smallint "
    "FROM generate_series(1, length(t) - 2) AS i WHERE strpos(substr(t, i, 3), chr(31)) = 0 $$"
)
_ROWS = (
    "CREATE VIEW corporation_trigram_rows AS SELECT t.code AS trigram, "  # noqa: S608 (module constants only)
    f"{_KEY.format(row='c')} AS sort_key, t.at AS position FROM corporations AS c, "
    f"corporate_trigrams(c.search_text) AS t WHERE {_VISIBLE.format(row='c')}"
)
_FOLLOW = f"""
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
_EMPTY = ("CREATE FUNCTION corporation_trigrams_empty() RETURNS trigger LANGUAGE plpgsql AS $$ "
          "BEGIN TRUNCATE corporation_trigrams; RETURN NULL; END $$")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE corporation_trigrams (trigram bigint NOT NULL, sort_key bigint NOT NULL, "
               "position smallint NOT NULL)")
    op.execute(_TRIGRAMS)
    op.execute(_ROWS)
    op.execute(_FOLLOW)
    op.execute(_EMPTY)
    # Every column the key or the visibility reads, as SQLite's triggers.
    op.execute("CREATE TRIGGER corporations_trigrams_follow AFTER INSERT OR DELETE OR UPDATE OF latest, "
               "search_name, search_text, corporate_number, hihyoji, process ON corporations "
               "FOR EACH ROW EXECUTE FUNCTION corporation_trigrams_follow()")
    op.execute("CREATE TRIGGER corporations_trigrams_empty AFTER TRUNCATE ON corporations "
               "FOR EACH STATEMENT EXECUTE FUNCTION corporation_trigrams_empty()")
    # Filled before its key is indexed: one index build, not an index update per entry.
    op.execute("INSERT INTO corporation_trigrams (trigram, sort_key, position) "
               "SELECT trigram, sort_key, position FROM corporation_trigram_rows")
    op.execute("ALTER TABLE corporation_trigrams ADD CONSTRAINT corporation_trigrams_pkey "
               "PRIMARY KEY (trigram, sort_key, position)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER corporations_trigrams_empty ON corporations")
    op.execute("DROP TRIGGER corporations_trigrams_follow ON corporations")
    op.execute("DROP FUNCTION corporation_trigrams_empty()")
    op.execute("DROP FUNCTION corporation_trigrams_follow()")
    op.execute("DROP VIEW corporation_trigram_rows")
    op.execute("DROP FUNCTION corporate_trigrams(text)")
    op.execute("DROP TABLE corporation_trigrams")
