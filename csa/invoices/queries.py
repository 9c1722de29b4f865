"""Reads for the invoice pages: a season's invoices with what each still asks, and a
household's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from csa.extensions import db
from csa.models import Invoice, InvoiceKind, Membership, PaymentAllocation
from csa.money.balances import credited_cents, paid_cents

STATUSES = {
    "open": _l("open"),
    "partly_paid": _l("partly paid"),
    "overdue": _l("overdue"),
    "paid": _l("paid"),
    "credited": _l("credited"),
}


@dataclass
class InvoiceRow:
    invoice: Invoice
    paid: int
    credited: int
    open: int
    status: str

    @property
    def status_label(self) -> str:
        return str(STATUSES[self.status])


def status_of(total: int, paid: int, credited: int, due_on: date, today: date) -> str:
    """paid / credited when nothing is open; else overdue past its due date; else partly
    paid or open."""
    left = max(0, total - paid - credited)
    if left == 0:
        return "paid" if paid > 0 else "credited"
    if due_on < today:
        return "overdue"
    return "partly_paid" if paid > 0 else "open"


def rows_for(invoices: list[Invoice], today: date) -> list[InvoiceRow]:
    ids = [i.id for i in invoices]
    paid, credited = paid_cents(ids), credited_cents(ids)
    return [
        InvoiceRow(
            i,
            paid[i.id],
            credited[i.id],
            max(0, i.total_cents - paid[i.id] - credited[i.id]),
            status_of(i.total_cents, paid[i.id], credited[i.id], i.due_on, today),
        )
        for i in invoices
    ]


def season_invoices(season_id: int, today: date, status: str | None = None) -> list[InvoiceRow]:
    """The season's invoices (not credit notes), by number; only one status if asked."""
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .join(Membership, Membership.id == Invoice.membership_id)
            .where(Membership.season_id == season_id, Invoice.kind == InvoiceKind.INVOICE)
            .order_by(Invoice.year, Invoice.seq)
        )
    )
    rows = rows_for(invoices, today)
    return [r for r in rows if status is None or r.status == status]


def household_invoices(member_id: int, today: date) -> list[InvoiceRow]:
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.member_id == member_id, Invoice.kind == InvoiceKind.INVOICE)
            .order_by(Invoice.due_on, Invoice.seq)
        )
    )
    return rows_for(invoices, today)


def credit_notes(invoice: Invoice) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice)
            .where(Invoice.credits_id == invoice.id, Invoice.kind == InvoiceKind.CREDIT_NOTE)
            .order_by(Invoice.seq)
        )
    )


def allocations(invoice: Invoice) -> list[PaymentAllocation]:
    return list(
        db.session.scalars(
            select(PaymentAllocation)
            .options(selectinload(PaymentAllocation.payment))
            .where(PaymentAllocation.invoice_id == invoice.id)
            .order_by(PaymentAllocation.id)
        )
    )
