"""holds: the log of holds (who put a hold on or took it off, and when)

Revision ID: holds
Revises: comembers
Create Date: 2026-12-07 14:00:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "holds"
down_revision = "comembers"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "hold_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("round_date", sa.Date(), nullable=False),
        sa.Column(
            "action",
            sa.Enum("set", "cleared", name="hold_action", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "mode",
            sa.Enum("donate", "others", name="hold_log_mode", native_enum=False, length=20),
            nullable=True,
        ),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["user.id"], name=op.f("fk_hold_log_by_id_user")),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["membership.id"], name=op.f("fk_hold_log_membership_id_membership")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hold_log")),
    )
    with op.batch_alter_table("hold_log") as batch:
        batch.create_index(batch.f("ix_hold_log_membership_id"), ["membership_id"], unique=False)


def downgrade():
    with op.batch_alter_table("hold_log") as batch:
        batch.drop_index(batch.f("ix_hold_log_membership_id"))
    op.drop_table("hold_log")
