"""waiting_rank: the order of a site's waiting list

Revision ID: waiting_rank
Revises: account_profile
Create Date: 2026-12-07 13:30:00

Waiting memberships had no order. They get one rank each per (site, season), in the order
they were created (their id), which is the order the import put them on the list.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "waiting_rank"
down_revision = "account_profile"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("membership") as batch:
        batch.add_column(sa.Column("waiting_rank", sa.Integer(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, site_id, season_id FROM membership WHERE status = 'waiting' ORDER BY id"
        )
    ).all()
    ranks: dict[tuple[int, int], int] = {}
    for membership_id, site_id, season_id in rows:
        rank = ranks[(site_id, season_id)] = ranks.get((site_id, season_id), 0) + 1
        conn.execute(
            sa.text("UPDATE membership SET waiting_rank = :rank WHERE id = :id"),
            {"rank": rank, "id": membership_id},
        )


def downgrade():
    with op.batch_alter_table("membership") as batch:
        batch.drop_column("waiting_rank")
