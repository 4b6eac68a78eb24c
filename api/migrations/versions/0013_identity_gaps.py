"""identity gaps: proxy invitations by e-mail, shared-terminal sessions, indexes for purge

Proxy grants made by e-mail are invitations until accepted: ``proxy_person_id`` may be NULL, with the invited
address in ``proxy_email``. Session tokens on a shared terminal carry their idle timeout and the terminal.
TV sessions and sign-ins made before carry only notices:read, which was all a TV could have: they get
profile:name too, so a TV already signed in can show who is (a refresh keeps its token's scopes).

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Written out here: a migration states the scopes as they were at its revision.
_TV_BEFORE = "notices:read"
_TV_AFTER = "notices:read profile:name"
_TV_TABLES = ("session_tokens", "refresh_tokens", "device_authorizations")


def _rescope(before: str, after: str) -> None:
    for name in _TV_TABLES:
        table = sa.table(name, sa.column("scopes", sa.String))
        op.execute(table.update().where(table.c.scopes == before).values(scopes=after))


def upgrade() -> None:
    _rescope(_TV_BEFORE, _TV_AFTER)
    with op.batch_alter_table("proxy_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proxy_email", sa.String(length=254), nullable=True))
        batch_op.alter_column("proxy_person_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_check_constraint(op.f("ck_proxy_grants_has_proxy"),
                                         "proxy_person_id IS NOT NULL OR proxy_email IS NOT NULL")
        batch_op.create_index(batch_op.f("ix_proxy_grants_proxy_email"), ["proxy_email"], unique=False)
    with op.batch_alter_table("session_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idle_timeout_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("terminal_id", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_session_tokens_terminal_id"), ["terminal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_tokens_expires_at"), ["expires_at"], unique=False)
    # `mynaportal purge` finds what to delete by these.
    op.create_index(op.f("ix_rate_limit_counters_window_start"), "rate_limit_counters", ["window_start"])


def downgrade() -> None:
    _rescope(_TV_AFTER, _TV_BEFORE)
    op.drop_index(op.f("ix_rate_limit_counters_window_start"), table_name="rate_limit_counters")
    with op.batch_alter_table("session_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_session_tokens_terminal_id"))
        batch_op.drop_column("terminal_id")
        batch_op.drop_column("idle_timeout_seconds")
    # Invitations never accepted have no proxy: they cannot survive the NOT NULL.
    op.execute("DELETE FROM proxy_grants WHERE proxy_person_id IS NULL")
    with op.batch_alter_table("proxy_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proxy_grants_proxy_email"))
        batch_op.drop_constraint(op.f("ck_proxy_grants_has_proxy"), type_="check")
        batch_op.alter_column("proxy_person_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("proxy_email")
