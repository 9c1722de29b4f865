"""privacy: a household's requests about its data, and the audit of what was done with it

Revision ID: privacy
Revises: offers
Create Date: 2026-12-07 14:00:00

Two new tables: privacy_request (a household asks for deletion; a coordinator refuses it or
anonymises the household) and privacy_event (exported, requested, refused, anonymised: by
whom, when). Nothing existing changes.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "privacy"
down_revision = "offers"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "privacy_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("deletion", name="privacy_request_kind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "requested",
                "done",
                "refused",
                name="privacy_request_state",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_privacy_request_member_id_member")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["user.id"], name=op.f("fk_privacy_request_requested_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user.id"], name=op.f("fk_privacy_request_decided_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request")),
    )
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_request_member_id"), ["member_id"], unique=False
        )
    op.create_table(
        "privacy_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["user.id"], name=op.f("fk_privacy_event_by_id_user")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_privacy_event_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_event")),
    )
    with op.batch_alter_table("privacy_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_event_member_id"), ["member_id"], unique=False)


def downgrade():
    with op.batch_alter_table("privacy_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_event_member_id"))
    op.drop_table("privacy_event")
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_request_member_id"))
    op.drop_table("privacy_request")
