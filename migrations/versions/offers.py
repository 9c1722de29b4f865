"""offers: a free place offered to the next household on a site's waiting list

Revision ID: offers
Revises: waiting_rank
Create Date: 2026-12-07 13:30:00

A table of offers (csa/waitlist/offers.py) and the date a waiting membership joined its
list (`membership.waiting_since`; memberships waiting already get the household's creation
time, the best date there is for them).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "offers"
down_revision = "waiting_rank"
branch_labels = None
depends_on = None

STATES = ("open", "accepted", "declined", "expired", "withdrawn")


def upgrade():
    with op.batch_alter_table("membership") as batch:
        batch.add_column(sa.Column("waiting_since", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE membership SET waiting_since = (SELECT created_at FROM member"
        " WHERE member.id = membership.member_id) WHERE status = 'waiting'"
    )
    op.create_table(
        "place_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("season_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=True),
        sa.Column("offered_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*STATES, name="offer_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_place_offer_membership_id_membership"),
        ),
        sa.ForeignKeyConstraint(
            ["season_id"], ["season.id"], name=op.f("fk_place_offer_season_id_season")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["pickup_site.id"], name=op.f("fk_place_offer_site_id_pickup_site")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_offer")),
        sa.UniqueConstraint("site_id", "season_id", "slot", name="uq_place_offer_slot"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_place_offer_token_hash")),
    )
    with op.batch_alter_table("place_offer") as batch:
        batch.create_index(batch.f("ix_place_offer_membership_id"), ["membership_id"], unique=False)
        batch.create_index("ix_place_offer_open", ["state", "expires_at"], unique=False)


def downgrade():
    op.drop_table("place_offer")
    with op.batch_alter_table("membership") as batch:
        batch.drop_column("waiting_since")
