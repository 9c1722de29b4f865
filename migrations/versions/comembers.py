"""comembers: several logins per household, and whether each wants the household's notices

Revision ID: comembers
Revises: renewal
Create Date: 2026-12-07 13:30:00

A household had at most one login (user.member_id was unique). Partners and flatmates now
have a login each, tied to the same household (csa/accounts/household.py): the unique
constraint becomes a plain index. `user.notices` says whether a login is mailed the
household's notices (csa/notices/recipients.py); every existing login keeps getting them.
The constraint has the same name on SQLite and PostgreSQL (the metadata's naming
convention, migrations/versions/80bcd2c8f491_initial_schema.py).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "comembers"
down_revision = "renewal"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user") as batch:
        batch.drop_constraint("uq_user_member_id", type_="unique")
        batch.create_index("ix_user_member_id", ["member_id"])
        batch.add_column(sa.Column("notices", sa.Boolean(), nullable=False, server_default="1"))


def downgrade():
    # Back to one login per household: the contact's (the household's e-mail), else the
    # oldest, stays tied to it; a co-member's login loses its household, as a removed
    # co-member's does, so the constraint can return.
    op.execute(
        sa.text(
            'UPDATE "user" SET member_id = NULL WHERE member_id IS NOT NULL AND id <> COALESCE('
            '(SELECT u2.id FROM "user" u2 JOIN member m ON m.id = u2.member_id '
            'WHERE u2.member_id = "user".member_id AND lower(u2.email) = lower(m.email)), '
            '(SELECT MIN(u3.id) FROM "user" u3 WHERE u3.member_id = "user".member_id))'
        )
    )
    with op.batch_alter_table("user") as batch:
        batch.drop_column("notices")
        batch.drop_index("ix_user_member_id")
        batch.create_unique_constraint("uq_user_member_id", ["member_id"])
