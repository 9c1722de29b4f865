"""account_profile: a login's own phone; a login's language empty until its person chooses

Revision ID: account_profile
Revises: balance_version
Create Date: 2026-12-05 16:30:00

Every login had "en" stored by default, so a Polish browser saw an English site after
signing in. Nobody had chosen it (there was no way to): from here "" means "follow the
browser" until the person picks a language (csa/__init__.py, select_locale).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "account_profile"
down_revision = "balance_version"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=50), nullable=False, server_default=""))
    op.execute(sa.text('UPDATE "user" SET locale = \'\''))


def downgrade():
    op.execute(sa.text('UPDATE "user" SET locale = \'en\' WHERE locale = \'\''))
    with op.batch_alter_table("user") as batch:
        batch.drop_column("phone")
