"""invoices: an outbox message may carry an attachment (an issued invoice's PDF), rendered
when the message is sent; the farm's details as each invoice was issued with them

Revision ID: invoices
Revises: bidding
Create Date: 2026-12-07 17:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "invoices"
down_revision = "bidding"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "invoice_seller",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("tax_id", sa.String(length=40), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoice.id"],
            name=op.f("fk_invoice_seller_invoice_id_invoice"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_seller")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachment", sa.String(length=60), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("attachment")
    op.drop_table("invoice_seller")
