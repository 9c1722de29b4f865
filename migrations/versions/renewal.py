"""renewal: invitations into the next season, and trial shares

Revision ID: renewal
Revises: signup
Create Date: 2026-12-07 14:00:00

A `renewal` row per (membership, next season) with the member's choices and answer, and
`membership.trial_end` for a trial share (csa/renewal/).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "renewal"
down_revision = "signup"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("membership") as batch:
        batch.add_column(sa.Column("trial_end", sa.Date(), nullable=True))
    op.create_table(
        "renewal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("next_season_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "invited",
                "accepted",
                "changed",
                "declined",
                "expired",
                name="renewal_state",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("share_type_id", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("invited_at", sa.DateTime(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("decline_reason", sa.String(length=300), nullable=False),
        sa.Column("new_membership_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("shares > 0", name=op.f("ck_renewal_shares_positive")),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["membership.id"], name=op.f("fk_renewal_membership_id_membership")
        ),
        sa.ForeignKeyConstraint(
            ["new_membership_id"],
            ["membership.id"],
            name=op.f("fk_renewal_new_membership_id_membership"),
        ),
        sa.ForeignKeyConstraint(
            ["next_season_id"], ["season.id"], name=op.f("fk_renewal_next_season_id_season")
        ),
        sa.ForeignKeyConstraint(
            ["share_type_id"], ["share_type.id"], name=op.f("fk_renewal_share_type_id_share_type")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["pickup_site.id"], name=op.f("fk_renewal_site_id_pickup_site")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal")),
        sa.UniqueConstraint(
            "membership_id", "next_season_id", name="uq_renewal_membership_season"
        ),
    )
    with op.batch_alter_table("renewal") as batch:
        batch.create_index(batch.f("ix_renewal_membership_id"), ["membership_id"], unique=False)
        batch.create_index(batch.f("ix_renewal_next_season_id"), ["next_season_id"], unique=False)
        batch.create_index(batch.f("ix_renewal_site_id"), ["site_id"], unique=False)


def downgrade():
    op.drop_table("renewal")
    with op.batch_alter_table("membership") as batch:
        batch.drop_column("trial_end")
