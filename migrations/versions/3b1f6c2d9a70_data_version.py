"""data_version: one row counting writes to what a split depends on

Revision ID: 3b1f6c2d9a70
Revises: c3_round_log
Create Date: 2026-12-01 23:30:00

"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3b1f6c2d9a70"
down_revision = "c3_round_log"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    # The one row csa/rounds/freshness.py bumps; its token tells databases apart.
    op.bulk_insert(table, [{"id": 1, "token": secrets.token_hex(8), "value": 0}])


def downgrade():
    op.drop_table("data_version")
