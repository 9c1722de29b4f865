"""outbox: delivery state, retries, claims, sealed text, admin-only rows

Revision ID: outbox_delivery
Revises: auth_signin
Create Date: 2026-12-05 09:00:00

Rows written before this were sent inside their transaction: they become `sent` (or
`queued` if they never were). Their bodies may hold set-password links in clear, so every
such link is replaced here, and invitations are listed for admins only.
"""

import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "outbox_delivery"
down_revision = "auth_signin"
branch_labels = None
depends_on = None

LINK = re.compile(r"\S*/auth/set-password/\S*")

outbox = sa.table(
    "outbox_message",
    sa.column("id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("body", sa.Text),
    sa.column("created_at", sa.DateTime),
    sa.column("sent_at", sa.DateTime),
    sa.column("state", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", sa.DateTime),
    sa.column("claim", sa.String),
    sa.column("last_error", sa.Text),
    sa.column("admin_only", sa.Boolean),
)


def upgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("admin_only", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("claim", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))

    conn = op.get_bind()
    conn.execute(
        outbox.update().values(
            state=sa.case((outbox.c.sent_at.is_(None), "queued"), else_="sent"),
            attempts=sa.case((outbox.c.sent_at.is_(None), 0), else_=1),
            next_attempt_at=outbox.c.created_at,
            claim="",
            last_error="",
            admin_only=outbox.c.key.like("invite/%"),
        )
    )
    rows = conn.execute(
        sa.select(outbox.c.id, outbox.c.body).where(outbox.c.body.like("%/auth/set-password/%"))
    ).all()
    for row_id, body in rows:
        conn.execute(
            outbox.update()
            .where(outbox.c.id == row_id)
            .values(body=LINK.sub("[link removed]", body))
        )

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.alter_column("admin_only", existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column("state", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("attempts", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("next_attempt_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.alter_column("claim", existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column("last_error", existing_type=sa.Text(), nullable=False)
        batch_op.create_index(
            "ix_outbox_message_due", ["state", "next_attempt_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_due")
        batch_op.drop_column("last_error")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claim")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("state")
        batch_op.drop_column("admin_only")
        batch_op.drop_column("sealed")
