"""donations: which partner collects each site's donated shares, the partner taking the
surplus, the rounds settled and the pickup sheets mailed to partners

Revision ID: donations
Revises: community
Create Date: 2026-12-07 23:30:00
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "donations"
down_revision = "community"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("partner_organisation") as batch:
        batch.add_column(
            sa.Column("takes_surplus", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "donation_route",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_organisation.id"],
            name=op.f("fk_donation_route_partner_id_partner_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["pickup_site.id"], name=op.f("fk_donation_route_site_id_pickup_site")
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_donation_route")),
    )
    op.create_index(
        op.f("ix_donation_route_partner_id"), "donation_route", ["partner_id"], unique=False
    )
    op.create_table(
        "donation_round",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("surplus_partner_id", sa.Integer(), nullable=True),
        sa.Column("settled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_donation_round_round_id_round")
        ),
        sa.ForeignKeyConstraint(
            ["surplus_partner_id"],
            ["partner_organisation.id"],
            name=op.f("fk_donation_round_surplus_partner_id_partner_organisation"),
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_donation_round")),
    )
    op.create_table(
        "donation_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner_organisation.id"],
            name=op.f("fk_donation_notice_partner_id_partner_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_donation_notice_round_id_round")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donation_notice")),
        sa.UniqueConstraint("round_id", "partner_id", name="uq_donation_notice"),
    )
    op.create_index(
        op.f("ix_donation_notice_round_id"), "donation_notice", ["round_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_donation_notice_round_id"), table_name="donation_notice")
    op.drop_table("donation_notice")
    op.drop_table("donation_round")
    op.drop_index(op.f("ix_donation_route_partner_id"), table_name="donation_route")
    op.drop_table("donation_route")
    with op.batch_alter_table("partner_organisation") as batch:
        batch.drop_column("takes_surplus")
