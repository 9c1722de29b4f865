"""signup: sign-up requests, versioned contract terms, seasons open for sign-up

Revision ID: signup
Revises: privacy
Create Date: 2026-12-07 14:00:00

A household asks to join a season from the public page (csa/signup); its request keeps
the contract terms version it accepted, which approval copies to the membership.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "signup"
down_revision = "privacy"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "contract_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_contract_terms_created_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_terms")),
        sa.UniqueConstraint("version", name=op.f("uq_contract_terms_version")),
    )
    op.create_table(
        "signup_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("season_id", sa.Integer(), nullable=False),
        sa.Column("share_type_id", sa.Integer(), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("terms_id", sa.Integer(), nullable=True),
        sa.Column("terms_accepted_at", sa.DateTime(), nullable=False),
        sa.Column("privacy_accepted_at", sa.DateTime(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "unconfirmed",
                "confirmed",
                "waiting",
                "approved",
                "declined",
                name="signup_state",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decline_reason", sa.String(length=300), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("membership_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("shares > 0", name=op.f("ck_signup_request_shares_positive")),
        sa.ForeignKeyConstraint(
            ["season_id"], ["season.id"], name=op.f("fk_signup_request_season_id_season")
        ),
        sa.ForeignKeyConstraint(
            ["share_type_id"],
            ["share_type.id"],
            name=op.f("fk_signup_request_share_type_id_share_type"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["pickup_site.id"], name=op.f("fk_signup_request_site_id_pickup_site")
        ),
        sa.ForeignKeyConstraint(
            ["terms_id"],
            ["contract_terms.id"],
            name=op.f("fk_signup_request_terms_id_contract_terms"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user.id"], name=op.f("fk_signup_request_decided_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_signup_request_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_signup_request_membership_id_membership"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_request")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_signup_request_token_hash")),
    )
    op.create_index(op.f("ix_signup_request_email"), "signup_request", ["email"])
    op.create_index(op.f("ix_signup_request_state"), "signup_request", ["state"])
    with op.batch_alter_table("season") as batch:
        batch.add_column(
            sa.Column("signup_open", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("membership") as batch:
        batch.add_column(sa.Column("terms_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("terms_accepted_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_membership_terms_id_contract_terms"), "contract_terms", ["terms_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("membership") as batch:
        batch.drop_constraint(op.f("fk_membership_terms_id_contract_terms"), type_="foreignkey")
        batch.drop_column("terms_accepted_at")
        batch.drop_column("terms_id")
    with op.batch_alter_table("season") as batch:
        batch.drop_column("signup_open")
    op.drop_index(op.f("ix_signup_request_state"), table_name="signup_request")
    op.drop_index(op.f("ix_signup_request_email"), table_name="signup_request")
    op.drop_table("signup_request")
    op.drop_table("contract_terms")
