"""What each invoice still asks: its total, less the payments allocated to it and the credit
notes that correct it. One grouped query for many invoices, never one per row."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from csa.extensions import db
from csa.models import Invoice, InvoiceKind, PaymentAllocation


def paid_cents(invoice_ids: Iterable[int]) -> dict[int, int]:
    """Invoice id → cents allocated to it from payments (0 when none)."""
    ids = list(invoice_ids)
    paid = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.session.execute(
            select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount_cents))
            .where(PaymentAllocation.invoice_id.in_(chunk))
            .group_by(PaymentAllocation.invoice_id)
        )
        for invoice_id, total in rows:
            paid[invoice_id] = int(total or 0)
    return paid


def credited_cents(invoice_ids: Iterable[int]) -> dict[int, int]:
    """Invoice id → cents of the credit notes issued against it (0 when none)."""
    ids = list(invoice_ids)
    credited = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.session.execute(
            select(Invoice.credits_id, func.sum(Invoice.total_cents))
            .where(Invoice.kind == InvoiceKind.CREDIT_NOTE, Invoice.credits_id.in_(chunk))
            .group_by(Invoice.credits_id)
        )
        for invoice_id, total in rows:
            if invoice_id is not None:
                credited[invoice_id] = int(total or 0)
    return credited


def open_cents(invoices: Iterable[Invoice]) -> dict[int, int]:
    """Invoice id → what it still asks (never below zero; an overpayment shows as 0)."""
    rows = [i for i in invoices if i.kind == InvoiceKind.INVOICE]
    ids = [i.id for i in rows]
    paid = paid_cents(ids)
    credited = credited_cents(ids)
    return {i.id: max(0, i.total_cents - paid[i.id] - credited[i.id]) for i in rows}
