"""the web portal's person sessions kept on the server: the cookie holds only an opaque id, the row the session
token (and its refresh token) by id

Revision ID: 0036
Revises: 0035
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import api.platform.db

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # api.identity.web_sessions. Browsers signed in with the old cookie (which held the tokens) sign in again.
    op.create_table(
        "person_web_sessions",
        sa.Column("id_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=False),
        sa.Column("refresh_token_id", sa.Uuid(), nullable=True),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", api.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["refresh_token_id"], ["refresh_tokens.id"],
                                name=op.f("fk_person_web_sessions_refresh_token_id_refresh_tokens"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["token_id"], ["session_tokens.id"],
                                name=op.f("fk_person_web_sessions_token_id_session_tokens"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_person_web_sessions")),
    )
    op.create_index(op.f("ix_person_web_sessions_last_seen_at"), "person_web_sessions", ["last_seen_at"])
    op.create_index(op.f("ix_person_web_sessions_refresh_token_id"), "person_web_sessions", ["refresh_token_id"])
    op.create_index(op.f("ix_person_web_sessions_token_id"), "person_web_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_person_web_sessions_token_id"), table_name="person_web_sessions")
    op.drop_index(op.f("ix_person_web_sessions_refresh_token_id"), table_name="person_web_sessions")
    op.drop_index(op.f("ix_person_web_sessions_last_seen_at"), table_name="person_web_sessions")
    op.drop_table("person_web_sessions")
