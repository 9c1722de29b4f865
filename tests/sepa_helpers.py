"""Test data for the direct debits and reminders: invoices made directly (csa/invoices is
built elsewhere), the farm's bank details, payments allocated by hand."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from csa.core.banking import payment_reference
from csa.extensions import db
from csa.models import (
    Invoice,
    InvoiceKind,
    Mandate,
    MandateKind,
    Membership,
    Payment,
    PaymentAllocation,
    PaymentMethod,
)
from csa.money.profile import farm_profile

_seq = itertools.count(901)  # far above what a test's counter gives real invoices

IBANS = {
    "de": "DE89370400440532013000",
    "de2": "DE02120300000000202051",
    "nl": "NL91ABNA0417164300",
    "at": "AT611904300234573201",
    "fr": "FR1420041010050500013M02606",
}
BAD_IBAN = "DE88370400440532013000"  # DE89… with one check digit changed
FARM_IBAN = "DE02100500000024290661"
CREDITOR_ID = "DE98ZZZ09999999999"


def bank_details(legal_name: str = "Test Farm eG") -> None:
    """The farm's profile as a direct-debit creditor."""
    profile = farm_profile()
    profile.legal_name = profile.legal_name or legal_name
    profile.iban = profile.iban or FARM_IBAN
    profile.bic = profile.bic or "BELADEBEXXX"
    profile.creditor_id = profile.creditor_id or CREDITOR_ID
    db.session.flush()


def make_invoice(
    membership: Membership, total_cents: int, due_on: date, number: str | None = None
) -> Invoice:
    """An issued invoice of a membership (no instalment: free of the invoices part's keys)."""
    seq = next(_seq)
    number = number or f"{due_on.year}-T{seq:04d}"
    invoice = Invoice(
        kind=InvoiceKind.INVOICE,
        year=due_on.year,
        seq=seq,
        number=number,
        member_id=membership.member_id,
        membership_id=membership.id,
        instalment=None,
        issued_on=due_on - timedelta(days=14),
        due_on=due_on,
        total_cents=total_cents,
        currency="EUR",
        reference=payment_reference(number),
        buyer_name=membership.member.name,
    )
    db.session.add(invoice)
    db.session.flush()
    return invoice


def pay(invoice: Invoice, cents: int, on: date) -> Payment:
    """A transfer settling part of an invoice."""
    payment = Payment(
        booked_on=on,
        amount_cents=cents,
        currency="EUR",
        method=PaymentMethod.TRANSFER,
        member_id=invoice.member_id,
    )
    db.session.add(payment)
    db.session.add(PaymentAllocation(payment=payment, invoice_id=invoice.id, amount_cents=cents))
    db.session.flush()
    return payment


def make_mandate(
    membership: Membership,
    iban: str = IBANS["de"],
    kind: MandateKind = MandateKind.RECURRING,
    signed_on: date = date(2026, 1, 15),
    today: date = date(2026, 12, 1),
    bic: str = "",
) -> Mandate:
    """A mandate recorded through the real operation."""
    from csa.sepa.operations import record_mandate

    return record_mandate(
        membership.member,
        holder_name=membership.member.name,
        iban=iban,
        bic=bic,
        reference="",
        signed_on=signed_on,
        kind=kind,
        by=None,
        today=today,
    )
