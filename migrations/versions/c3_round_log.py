"""round log: round events move out of harvest_audit; no more "planned" rounds

Round events (added, cancelled, moved, locked, reopened) were harvest_audit rows with no
crop. They move into their own table, written only by csa/rounds/lifecycle.py, and
harvest_audit keeps harvest entry changes only (its crop is now required). The status
"planned" was never set by the code; any row holding it becomes "open", the status the code
treats it as.

Revision ID: c3_round_log
Revises: 80bcd2c8f491
Create Date: 2026-12-01 23:40:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c3_round_log"
down_revision = "80bcd2c8f491"
branch_labels = None
depends_on = None

ACTIONS = ["extra", "cancel", "move", "lock", "reopen", "distribute"]

harvest_audit = sa.table(
    "harvest_audit",
    sa.column("id", sa.Integer),
    sa.column("round_id", sa.Integer),
    sa.column("entry_id", sa.Integer),
    sa.column("crop_id", sa.Integer),
    sa.column("user_id", sa.Integer),
    sa.column("at", sa.DateTime),
    sa.column("action", sa.String),
    sa.column("before_milli", sa.Integer),
    sa.column("after_milli", sa.Integer),
    sa.column("note", sa.String),
)
round_log = sa.table(
    "round_log",
    sa.column("id", sa.Integer),
    sa.column("round_id", sa.Integer),
    sa.column("user_id", sa.Integer),
    sa.column("at", sa.DateTime),
    sa.column("action", sa.String),
    sa.column("note", sa.String),
)
round_ = sa.table("round", sa.column("status", sa.String))

MOVED = ("round_id", "user_id", "at", "action", "note")


def upgrade():
    op.create_table(
        "round_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(*ACTIONS, name="round_action", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round.id"], name=op.f("fk_round_log_round_id_round")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_round_log_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_log")),
    )
    with op.batch_alter_table("round_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_log_round_id"), ["round_id"], unique=False)

    events = sa.select(*(harvest_audit.c[name] for name in MOVED)).where(
        harvest_audit.c.crop_id.is_(None)
    )
    op.execute(round_log.insert().from_select(MOVED, events.order_by(harvest_audit.c.id)))
    op.execute(harvest_audit.delete().where(harvest_audit.c.crop_id.is_(None)))
    with op.batch_alter_table("harvest_audit", schema=None) as batch_op:
        batch_op.alter_column("crop_id", existing_type=sa.Integer(), nullable=False)

    op.execute(round_.update().where(round_.c.status == "planned").values(status="open"))


def downgrade():
    with op.batch_alter_table("harvest_audit", schema=None) as batch_op:
        batch_op.alter_column("crop_id", existing_type=sa.Integer(), nullable=True)
    events = sa.select(*(round_log.c[name] for name in MOVED)).order_by(round_log.c.id)
    op.execute(harvest_audit.insert().from_select(MOVED, events))

    with op.batch_alter_table("round_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_log_round_id"))
    op.drop_table("round_log")
