"""partners: households sharing one membership, their pattern, plan and swaps

Revision ID: partners
Revises: share_offers
Create Date: 2026-12-07 23:10:00
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "partners"
down_revision = "share_offers"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "share_partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("joined", sa.Date(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("position > 0", name=op.f("ck_share_partner_position_positive")),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["user.id"], name=op.f("fk_share_partner_added_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_share_partner_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_share_partner_membership_id_membership"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_partner")),
        sa.UniqueConstraint("membership_id", "member_id", name="uq_share_partner_member"),
    )
    op.create_index(
        op.f("ix_share_partner_membership_id"), "share_partner", ["membership_id"], unique=False
    )
    op.create_index(
        op.f("ix_share_partner_member_id"), "share_partner", ["member_id"], unique=False
    )
    op.create_table(
        "partner_setting",
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column(
            "pattern",
            sa.Enum("alternate", "plan", name="partner_pattern", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_partner_setting_membership_id_membership"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user.id"], name=op.f("fk_partner_setting_updated_by_id_user")
        ),
        sa.PrimaryKeyConstraint("membership_id", name=op.f("pk_partner_setting")),
    )
    op.create_table(
        "partner_plan_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_partner_plan_entry_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_partner_plan_entry_membership_id_membership"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_partner_plan_entry_round_id_round")
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"], ["user.id"], name=op.f("fk_partner_plan_entry_set_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_plan_entry")),
        sa.UniqueConstraint("membership_id", "round_id", name="uq_partner_plan_round"),
    )
    op.create_index(
        op.f("ix_partner_plan_entry_membership_id"),
        "partner_plan_entry",
        ["membership_id"],
        unique=False,
    )
    op.create_table(
        "partner_swap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("round_a_id", sa.Integer(), nullable=False),
        sa.Column("round_b_id", sa.Integer(), nullable=True),
        sa.Column("by_member_id", sa.Integer(), nullable=False),
        sa.Column("with_member_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "proposed",
                "accepted",
                "declined",
                "withdrawn",
                name="partner_swap_state",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "by_member_id <> with_member_id", name=op.f("ck_partner_swap_two_households")
        ),
        sa.CheckConstraint(
            "round_b_id IS NULL OR round_b_id <> round_a_id",
            name=op.f("ck_partner_swap_two_rounds"),
        ),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["user.id"], name=op.f("fk_partner_swap_answered_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["by_member_id"], ["member.id"], name=op.f("fk_partner_swap_by_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_partner_swap_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_partner_swap_membership_id_membership"),
        ),
        sa.ForeignKeyConstraint(
            ["round_a_id"], ["round.id"], name=op.f("fk_partner_swap_round_a_id_round")
        ),
        sa.ForeignKeyConstraint(
            ["round_b_id"], ["round.id"], name=op.f("fk_partner_swap_round_b_id_round")
        ),
        sa.ForeignKeyConstraint(
            ["with_member_id"],
            ["member.id"],
            name=op.f("fk_partner_swap_with_member_id_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_swap")),
    )
    op.create_index(
        op.f("ix_partner_swap_membership_id"), "partner_swap", ["membership_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_partner_swap_membership_id"), table_name="partner_swap")
    op.drop_table("partner_swap")
    op.drop_index(op.f("ix_partner_plan_entry_membership_id"), table_name="partner_plan_entry")
    op.drop_table("partner_plan_entry")
    op.drop_table("partner_setting")
    op.drop_index(op.f("ix_share_partner_member_id"), table_name="share_partner")
    op.drop_index(op.f("ix_share_partner_membership_id"), table_name="share_partner")
    op.drop_table("share_partner")
