"""harvest_submission: the harvest form's one-time token, so a resend saves nothing twice

Revision ID: input_harvest_submission
Revises: outbox_delivery
Create Date: 2026-12-05 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "input_harvest_submission"
down_revision = "outbox_delivery"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "harvest_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_harvest_submission_round_id_round")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_harvest_submission_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_harvest_submission")),
        sa.UniqueConstraint("token", name=op.f("uq_harvest_submission_token")),
    )
    with op.batch_alter_table("harvest_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_harvest_entry_submission_id"), ["submission_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_harvest_entry_submission_id_harvest_submission"),
            "harvest_submission",
            ["submission_id"],
            ["id"],
        )


def downgrade():
    with op.batch_alter_table("harvest_entry", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_harvest_entry_submission_id_harvest_submission"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_harvest_entry_submission_id"))
        batch_op.drop_column("submission_id")
    op.drop_table("harvest_submission")
