"""Who owes what: every household with an open amount, aged as of a day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from csa.extensions import db
from csa.models import Hardship, Invoice, InvoiceKind, Member, Reminder
from csa.money.balances import open_cents
from csa.reminders import rules
from csa.sepa.operations import pending_invoice_ids


@dataclass
class OpenInvoice:
    invoice: Invoice
    open_cents: int
    bucket: str
    reminders: list[Reminder]
    pending_debit: bool


@dataclass
class Owing:
    member: Member
    invoices: list[OpenInvoice] = field(default_factory=list)
    buckets: dict[str, int] = field(default_factory=dict)
    hardship: Hardship | None = None

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


def owing(today: date) -> tuple[list[Owing], dict[str, int]]:
    """The households with something open (most overdue first) and the totals per bucket."""
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .options(joinedload(Invoice.member))
            .where(Invoice.kind == InvoiceKind.INVOICE)
            .order_by(Invoice.due_on, Invoice.id)
        )
    )
    owed = open_cents(invoices)
    invoices = [i for i in invoices if owed.get(i.id, 0) > 0]
    ids = [i.id for i in invoices]
    sent: dict[int, list[Reminder]] = {}
    for start in range(0, len(ids), 500):
        for reminder in db.session.scalars(
            select(Reminder)
            .where(Reminder.invoice_id.in_(ids[start : start + 500]))
            .order_by(Reminder.level)
        ):
            sent.setdefault(reminder.invoice_id, []).append(reminder)
    pending = pending_invoice_ids(ids)
    rows, totals = rules.age(((i.member_id, i.due_on, owed[i.id]) for i in invoices), today)
    by_member: dict[int, Owing] = {}
    for invoice in invoices:
        row = by_member.get(invoice.member_id)
        if row is None:
            row = by_member[invoice.member_id] = Owing(
                invoice.member, buckets=rows[invoice.member_id]
            )
        row.invoices.append(
            OpenInvoice(
                invoice,
                owed[invoice.id],
                rules.bucket(invoice.due_on, today),
                sent.get(invoice.id, []),
                invoice.id in pending,
            )
        )
    for hardship in db.session.scalars(
        select(Hardship).where(Hardship.member_id.in_(list(by_member)))
    ):
        if hardship.active_on(today) and hardship.member_id in by_member:
            by_member[hardship.member_id].hardship = hardship
    ordered = sorted(
        by_member.values(),
        key=lambda o: (-o.buckets[rules.OVER_60], -o.buckets[rules.DAYS_31_60], o.member.name),
    )
    return ordered, totals
