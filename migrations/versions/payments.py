"""payments: the farm's saved CSV column mapping for bank statements, and imported payments
marked as not the members'

Revision ID: payments
Revises: sepa
Create Date: 2026-12-07 17:00:00
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "payments"
down_revision = "sepa"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "csv_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("date_column", sa.Integer(), nullable=False),
        sa.Column("amount_column", sa.Integer(), nullable=False),
        sa.Column("currency_column", sa.Integer(), nullable=False),
        sa.Column("payer_column", sa.Integer(), nullable=False),
        sa.Column("reference_column", sa.Integer(), nullable=False),
        sa.Column("date_format", sa.String(length=20), nullable=False),
        sa.Column("decimal_comma", sa.Boolean(), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=False),
        sa.Column("header_rows", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "date_column > 0 AND amount_column > 0 AND payer_column > 0"
            " AND reference_column > 0 AND currency_column >= 0",
            name=op.f("ck_csv_mapping_columns_positive"),
        ),
        sa.CheckConstraint(
            "header_rows >= 0", name=op.f("ck_csv_mapping_header_rows_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csv_mapping")),
    )
    op.create_table(
        "payment_ignore",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("ignored_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ignored_by_id"], ["user.id"], name=op.f("fk_payment_ignore_ignored_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_payment_ignore_payment_id_payment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_ignore")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payment_ignore_payment_id")),
    )


def downgrade():
    op.drop_table("payment_ignore")
    op.drop_table("csv_mapping")
