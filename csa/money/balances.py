"""What each invoice still asks: its total, less the payments allocated to it and the credit
notes that correct it. One grouped query for many invoices, never one per row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, true

from csa.extensions import db
from csa.models import Invoice, InvoiceKind, PaymentAllocation


def _sums(key: Any, amount: Any, where: Any, ids: list[int]) -> dict[int, int]:
    """id → sum of `amount` grouped by `key` over the rows `where` selects (0 when none),
    in chunks of 500 ids so the IN list stays small."""
    sums = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.session.execute(
            select(key, func.sum(amount)).where(where, key.in_(chunk)).group_by(key)
        )
        for found, total in rows:
            if found is not None:
                sums[found] = int(total or 0)
    return sums


def paid_cents(invoice_ids: Iterable[int]) -> dict[int, int]:
    """Invoice id → cents allocated to it from payments (0 when none)."""
    return _sums(
        PaymentAllocation.invoice_id, PaymentAllocation.amount_cents, true(), list(invoice_ids)
    )


def credited_cents(invoice_ids: Iterable[int]) -> dict[int, int]:
    """Invoice id → cents of the credit notes issued against it (0 when none)."""
    return _sums(
        Invoice.credits_id,
        Invoice.total_cents,
        Invoice.kind == InvoiceKind.CREDIT_NOTE,
        list(invoice_ids),
    )


def open_cents(invoices: Iterable[Invoice]) -> dict[int, int]:
    """Invoice id → what it still asks (never below zero; an overpayment shows as 0)."""
    rows = [i for i in invoices if i.kind == InvoiceKind.INVOICE]
    ids = [i.id for i in rows]
    paid = paid_cents(ids)
    credited = credited_cents(ids)
    return {i.id: max(0, i.total_cents - paid[i.id] - credited[i.id]) for i in rows}
