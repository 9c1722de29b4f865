"""balance_version: a second data_version row, counting writes to allocations and rounds

Revision ID: balance_version
Revises: input_harvest_submission
Create Date: 2026-12-05 12:45:00

"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "balance_version"
down_revision = "input_harvest_submission"
branch_labels = None
depends_on = None

data_version = sa.table(
    "data_version",
    sa.column("id", sa.Integer),
    sa.column("token", sa.String),
    sa.column("value", sa.BigInteger),
)


def upgrade():
    # Row 2: csa/rounds/freshness.py caches the balances carried into open rounds by it.
    op.bulk_insert(data_version, [{"id": 2, "token": secrets.token_hex(8), "value": 0}])


def downgrade():
    op.execute(data_version.delete().where(data_version.c.id == 2))
