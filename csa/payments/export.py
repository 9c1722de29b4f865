"""The accounting export: invoices, credit notes and payments of a period, one row each.

Signs are those of the households' account with the farm: an invoice adds to what a
household owes (+), a credit note and a payment take from it (−). Amounts are written as
decimal text with a point ("-650.00") in the document's currency. Payments marked as not
ours are left out; unmatched payments are in, without a household.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from csa.core.csvfile import csv_text
from csa.core.money import cents_to_str
from csa.extensions import db
from csa.models import Invoice, InvoiceKind, Payment, PaymentAllocation, PaymentIgnore

HEADER = ["date", "kind", "number", "household", "amount", "currency", "reference", "allocation"]


def payment_number(payment: Payment) -> str:
    """A payment's number in the export and on the pages (payments have no series)."""
    return f"P-{payment.id}"


def export_csv(first: date, last: date) -> str:
    """Rows by date, then invoices before credit notes before payments, then number."""
    rows: list[tuple[tuple[object, ...], list[object]]] = []
    invoices = db.session.scalars(
        select(Invoice)
        .where(Invoice.issued_on >= first, Invoice.issued_on <= last)
        .options(selectinload(Invoice.credits))
    )
    for inv in invoices:
        credit = inv.kind == InvoiceKind.CREDIT_NOTE
        sign = -1 if credit else 1
        allocation = inv.credits.number if credit and inv.credits is not None else ""
        rows.append(
            (
                (inv.issued_on, 1 if credit else 0, inv.year, inv.seq),
                [
                    inv.issued_on.isoformat(),
                    inv.kind.value,
                    inv.number,
                    inv.buyer_name,
                    cents_to_str(sign * inv.total_cents),
                    inv.currency,
                    inv.reference,
                    allocation,
                ],
            )
        )
    ignored = select(PaymentIgnore.payment_id)
    payments = list(
        db.session.scalars(
            select(Payment)
            .where(Payment.booked_on >= first, Payment.booked_on <= last)
            .where(Payment.id.not_in(ignored))
            .options(selectinload(Payment.member))
        )
    )
    parts: dict[int, list[str]] = defaultdict(list)
    if payments:
        ids = [p.id for p in payments]
        for start in range(0, len(ids), 500):
            for payment_id, number, cents in db.session.execute(
                select(PaymentAllocation.payment_id, Invoice.number, PaymentAllocation.amount_cents)
                .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
                .where(PaymentAllocation.payment_id.in_(ids[start : start + 500]))
                .order_by(PaymentAllocation.id)
            ):
                parts[payment_id].append(f"{number}:{cents_to_str(cents)}")
    for payment in payments:
        rows.append(
            (
                (payment.booked_on, 2, 0, payment.id),
                [
                    payment.booked_on.isoformat(),
                    "payment",
                    payment_number(payment),
                    payment.member.name if payment.member else "",
                    cents_to_str(-payment.amount_cents),
                    payment.currency,
                    payment.reference,
                    " ".join(parts[payment.id]),
                ],
            )
        )
    rows.sort(key=lambda r: r[0])
    return csv_text(HEADER, (cells for _key, cells in rows))
