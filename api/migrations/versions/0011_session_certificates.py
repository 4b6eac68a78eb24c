"""identity: every session records the certificate it came from; lost-card reports; operators in access records

Revoking a certificate revokes the sessions (access, refresh, TV device grants) that name it, in the same
transaction. An operator of the lost-card hotline may act on a person's record: the access record names them.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SESSION_TABLES = ("session_tokens", "refresh_tokens", "device_authorizations")


def upgrade() -> None:
    for table in _SESSION_TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("certificate_id", sa.Uuid(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_certificate_id"), ["certificate_id"])
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_certificate_id_issued_certificates"),
                                        "issued_certificates", ["certificate_id"], ["id"], ondelete="CASCADE")
    op.create_table(
        "card_loss_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=True),
        sa.Column("identity_check", sa.String(length=200), nullable=True),
        sa.Column("certificates_revoked", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_card_loss_reports_person_id_persons"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_loss_reports")),
    )
    op.create_index(op.f("ix_card_loss_reports_person_id"), "card_loss_reports", ["person_id"])
    with op.batch_alter_table("access_records") as batch_op:
        batch_op.add_column(sa.Column("actor_operator", sa.String(length=100), nullable=True))
        batch_op.alter_column("actor_person_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_check_constraint(op.f("ck_access_records_one_actor"),
                                         "(actor_person_id IS NULL) <> (actor_operator IS NULL)")


def downgrade() -> None:
    op.execute("DELETE FROM access_records WHERE actor_person_id IS NULL")
    with op.batch_alter_table("access_records") as batch_op:
        batch_op.drop_constraint(op.f("ck_access_records_one_actor"), type_="check")
        batch_op.alter_column("actor_person_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("actor_operator")
    op.drop_index(op.f("ix_card_loss_reports_person_id"), table_name="card_loss_reports")
    op.drop_table("card_loss_reports")
    for table in reversed(_SESSION_TABLES):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_certificate_id_issued_certificates"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_certificate_id"))
            batch_op.drop_column("certificate_id")
