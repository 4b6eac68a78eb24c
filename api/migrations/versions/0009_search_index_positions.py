"""corporate: SQLite's name-search index keeps trigram positions

Migration 0006 built the FTS5 trigram index with detail=none, the smallest: it cannot run phrase
queries, so a term of more than three characters was matched as all of its trigrams anywhere in the
keys, and every candidate row was read to count the matches (about a second for a common term at
national size). With detail=full the index keeps each trigram's positions: a term is the phrase of its
trigrams, matched exactly by the index alone, which then counts it without reading a row. The index is
larger and takes longer to build. Its content view, keys and triggers are unchanged. PostgreSQL is
unchanged (its posting table keeps positions since 0008).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(detail: str) -> None:
    # The triggers name the index and keep working on the new one; the view is its content, as in 0006.
    op.execute("DROP TABLE corporation_search")
    op.execute("CREATE VIRTUAL TABLE corporation_search USING fts5(search_text, content='corporation_search_rows', "
               f"content_rowid='search_order', tokenize='trigram', detail='{detail}')")
    op.execute("INSERT INTO corporation_search(corporation_search) VALUES ('rebuild')")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("full")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild("none")
