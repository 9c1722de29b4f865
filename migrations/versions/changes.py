"""changes: a membership's new terms from an effective date (membership_change)

Revision ID: changes
Revises: holds
Create Date: 2026-12-07 13:40:00

A change of share type, count or site is a row of its own; the membership's columns stay
the terms at its start (csa/changes/terms.py reads the terms in force on a date).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "changes"
down_revision = "holds"
branch_labels = None
depends_on = None

STATES = ["requested", "approved", "declined", "withdrawn"]


def upgrade():
    op.create_table(
        "membership_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("share_type_id", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*STATES, name="change_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("shares > 0", name=op.f("ck_membership_change_change_shares_positive")),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_membership_change_membership_id_membership"),
        ),
        sa.ForeignKeyConstraint(
            ["share_type_id"],
            ["share_type.id"],
            name=op.f("fk_membership_change_share_type_id_share_type"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["pickup_site.id"], name=op.f("fk_membership_change_site_id_pickup_site")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["user.id"], name=op.f("fk_membership_change_requested_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user.id"], name=op.f("fk_membership_change_decided_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_change")),
    )
    with op.batch_alter_table("membership_change") as batch:
        batch.create_index(
            batch.f("ix_membership_change_membership_id"), ["membership_id"], unique=False
        )
        batch.create_index("ix_membership_change_in_force", ["state", "effective"], unique=False)


def downgrade():
    with op.batch_alter_table("membership_change") as batch:
        batch.drop_index("ix_membership_change_in_force")
        batch.drop_index(batch.f("ix_membership_change_membership_id"))
    op.drop_table("membership_change")
