"""corporate: two-character partial search off an index; hihyoji 0 where files before Ver.4 left it empty

A partial term of three characters that loses one to folding (a long-vowel mark or a symbol:
サービ, チール, Ｍ＆Ｍ) is a two-character key, which neither trigram index can answer: each such
search read every current row (0.3-1.4 s at 1.7 million rows).

- SQLite: ``corporation_pairs``, an FTS5 index of each current, visible state's character pairs, keyed
  like ``corporation_search`` (name length x 10^13 + number), so a pair's matches come in sort order.
  A pair is written as the hex of its UTF-8 bytes, a word for the unicode61 tokenizer; detail=none (a
  pair needs no positions), so the index is small. Its content is a view that computes the pairs with
  ``text_pairs``, a Python function the app registers on each SQLite connection (api.platform.db: in
  SQL alone it cost 20 us a row); triggers keep it in step as 0006's keep ``corporation_search``.
- PostgreSQL: the trigram postings (0008) also hold each key's final pair, as the trigram code with a
  third code point of 0 (a character no text holds). A pair's matches are then the postings of one code
  range, [pair << 21, (pair + 1) << 21): its trigrams and its key ends. No new table.

States from 23-, 28- and 29-column files were stored with hihyoji NULL; the NTA answers 0 for them.

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration states the schema as it was at its revision.
_CURRENT = "{row}.latest AND coalesce({row}.hihyoji, '0') <> '1' AND {row}.process <> '99'"
_SQLITE_KEY = "length({row}.search_name) * 10000000000000 + CAST({row}.corporate_number AS INTEGER)"
# The pairs of a text as hex words: api.platform.db.text_pairs, a function on every connection the app opens.
_PAIRS = "text_pairs({text})"
_SQLITE_TRIGGERS = ("insert", "delete", "update")

_PG_TRIGRAMS_0008 = (
    "CREATE OR REPLACE FUNCTION corporate_trigrams(t text) RETURNS TABLE (code bigint, at smallint) LANGUAGE sql "
    "IMMUTABLE PARALLEL SAFE AS $$ SELECT (ascii(substr(t, i, 1))::bigint << 42) "
    "| (ascii(substr(t, i + 1, 1))::bigint << 21) | ascii(substr(t, i + 2, 1)), i::smallint "
    "FROM generate_series(1, length(t) - 2) AS i WHERE strpos(substr(t, i, 3), chr(31)) = 0 $$"
)
# Each trigram as before, and each key's final pair (followed by U+001F or the end) with a third code of 0.
_PG_TRIGRAMS_0025 = (
    "CREATE OR REPLACE FUNCTION corporate_trigrams(t text) RETURNS TABLE (code bigint, at smallint) LANGUAGE sql "
    "IMMUTABLE PARALLEL SAFE AS $$ SELECT (ascii(substr(t, i, 1))::bigint << 42) "
    "| (ascii(substr(t, i + 1, 1))::bigint << 21) "
    "| CASE WHEN i + 2 <= length(t) AND substr(t, i + 2, 1) <> chr(31) THEN ascii(substr(t, i + 2, 1)) ELSE 0 END, "
    "i::smallint FROM generate_series(1, length(t) - 1) AS i WHERE strpos(substr(t, i, 2), chr(31)) = 0 $$"
)
_PAIR_ENDS = "trigram & 2097151 = 0"  # the low 21 bits: the third code point


def _sqlite_triggers() -> list[str]:
    remove = ("INSERT INTO corporation_pairs(corporation_pairs, rowid, pairs) "
              f"SELECT 'delete', {_SQLITE_KEY.format(row='old')}, {_PAIRS.format(text='old.search_text')} "
              f"WHERE {_CURRENT.format(row='old')};")
    add = (f"INSERT INTO corporation_pairs(rowid, pairs) SELECT {_SQLITE_KEY.format(row='new')}, "
           f"{_PAIRS.format(text='new.search_text')} WHERE {_CURRENT.format(row='new')};")
    return [
        f"CREATE TRIGGER corporations_pairs_insert AFTER INSERT ON corporations BEGIN {add} END",
        f"CREATE TRIGGER corporations_pairs_delete AFTER DELETE ON corporations BEGIN {remove} END",
        # Every column the key or the visibility reads: the old entry goes before the new one comes.
        "CREATE TRIGGER corporations_pairs_update AFTER UPDATE OF latest, search_name, search_text, "
        f"corporate_number, hihyoji, process ON corporations BEGIN {remove} {add} END",
    ]


def upgrade() -> None:
    op.execute("UPDATE corporations SET hihyoji = '0' WHERE hihyoji IS NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_TRIGRAMS_0025)
        op.execute("INSERT INTO corporation_trigrams (trigram, sort_key, position) "  # noqa: S608 (constants)
                   f"SELECT trigram, sort_key, position FROM corporation_trigram_rows WHERE {_PAIR_ENDS}")
        return
    op.execute("CREATE VIEW corporation_pair_rows AS SELECT "  # noqa: S608 (module constants only)
               f"{_SQLITE_KEY.format(row='c')} AS search_order, {_PAIRS.format(text='c.search_text')} AS pairs "
               f"FROM corporations AS c WHERE {_CURRENT.format(row='c')}")
    op.execute("CREATE VIRTUAL TABLE corporation_pairs USING fts5(pairs, content='corporation_pair_rows', "
               "content_rowid='search_order', tokenize='unicode61', detail='none')")
    for trigger in _sqlite_triggers():
        op.execute(trigger)
    op.execute("INSERT INTO corporation_pairs(corporation_pairs) VALUES ('rebuild')")


def downgrade() -> None:
    # hihyoji stays 0: the NTA's own value for those states.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DELETE FROM corporation_trigrams WHERE {_PAIR_ENDS}")  # noqa: S608 (module constants only)
        op.execute(_PG_TRIGRAMS_0008)
        return
    for trigger in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER corporations_pairs_{trigger}")
    op.execute("DROP TABLE corporation_pairs")
    op.execute("DROP VIEW corporation_pair_rows")
