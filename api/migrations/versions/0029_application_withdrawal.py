"""applications: withdrawn (取下げ), by the applicant, of a draft or of an application not yet decided

Revision ID: 0029
Revises: 0028
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "status IN ('draft', 'received', 'reviewing', 'correction_requested', 'completed', 'rejected')"
_AFTER = ("status IN ('draft', 'received', 'reviewing', 'correction_requested', 'completed', 'rejected', "
          "'withdrawn')")


def _status_check(condition: str) -> None:
    # SQLite changes a CHECK constraint by copying the table (batch mode); PostgreSQL in place.
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_applications_status_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_applications_status_known"), condition)


def upgrade() -> None:
    _status_check(_AFTER)


def downgrade() -> None:
    op.execute("UPDATE applications SET status = 'rejected' WHERE status = 'withdrawn'")
    _status_check(_BEFORE)
