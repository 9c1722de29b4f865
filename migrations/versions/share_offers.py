"""share offers: a member's share of a round offered to its site, a friend or the
food-sharing partner, and swaps of one crop for another between members

Revision ID: share_offers
Revises: work
Create Date: 2026-12-07 23:30:00
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "share_offers"
down_revision = "work"
branch_labels = None
depends_on = None

OFFER_TARGETS = ("site", "friend", "partner")
OFFER_STATES = ("open", "accepted", "withdrawn", "donated", "others")
SWAP_STATES = ("open", "accepted", "withdrawn", "closed")


def upgrade():
    op.create_table(
        "share_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "target",
            sa.Enum(*OFFER_TARGETS, name="share_offer_target", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(*OFFER_STATES, name="share_offer_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("friend_name", sa.String(length=100), nullable=False),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"],
            ["membership.id"],
            name=op.f("fk_share_offer_accepted_by_id_membership"),
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["membership.id"], name=op.f("fk_share_offer_membership_id_membership")
        ),
        sa.ForeignKeyConstraint(["round_id"], ["round.id"], name=op.f("fk_share_offer_round_id_round")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["pickup_site.id"], name=op.f("fk_share_offer_site_id_pickup_site")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_offer")),
    )
    op.create_index(op.f("ix_share_offer_membership_id"), "share_offer", ["membership_id"])
    op.create_index(op.f("ix_share_offer_round_id"), "share_offer", ["round_id"])
    live = sa.text("state IN ('open', 'accepted', 'donated')")
    op.create_index(
        "uq_share_offer_live",
        "share_offer",
        ["round_id", "membership_id"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )
    op.create_table(
        "swap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("gives_crop_id", sa.Integer(), nullable=False),
        sa.Column("wants_crop_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(*SWAP_STATES, name="swap_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"], ["membership.id"], name=op.f("fk_swap_accepted_by_id_membership")
        ),
        sa.ForeignKeyConstraint(["gives_crop_id"], ["crop.id"], name=op.f("fk_swap_gives_crop_id_crop")),
        sa.ForeignKeyConstraint(
            ["membership_id"], ["membership.id"], name=op.f("fk_swap_membership_id_membership")
        ),
        sa.ForeignKeyConstraint(["round_id"], ["round.id"], name=op.f("fk_swap_round_id_round")),
        sa.ForeignKeyConstraint(["site_id"], ["pickup_site.id"], name=op.f("fk_swap_site_id_pickup_site")),
        sa.ForeignKeyConstraint(["wants_crop_id"], ["crop.id"], name=op.f("fk_swap_wants_crop_id_crop")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_swap")),
    )
    op.create_index(op.f("ix_swap_membership_id"), "swap", ["membership_id"])
    op.create_index(op.f("ix_swap_round_id"), "swap", ["round_id"])


def downgrade():
    op.drop_index(op.f("ix_swap_round_id"), table_name="swap")
    op.drop_index(op.f("ix_swap_membership_id"), table_name="swap")
    op.drop_table("swap")
    op.drop_index("uq_share_offer_live", table_name="share_offer")
    op.drop_index(op.f("ix_share_offer_round_id"), table_name="share_offer")
    op.drop_index(op.f("ix_share_offer_membership_id"), table_name="share_offer")
    op.drop_table("share_offer")
