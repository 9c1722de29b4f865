"""community: partner organisations receiving donations, and locked rounds whose sheets
are to be made again

Revision ID: community
Revises: payments
Create Date: 2026-12-07 20:00:00
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "community"
down_revision = "payments"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "partner_organisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("pickup_note", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_organisation")),
        sa.UniqueConstraint("name", name=op.f("uq_partner_organisation_name")),
    )
    op.create_table(
        "sheet_refresh",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_sheet_refresh_round_id_round")
        ),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_sheet_refresh")),
    )


def downgrade():
    op.drop_table("sheet_refresh")
    op.drop_table("partner_organisation")
