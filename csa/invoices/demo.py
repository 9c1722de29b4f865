"""The demo farm's invoices: its billing profile, a mix of payment plans, and the invoices
issued so far this season, each on the day the scheduler would have issued it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from csa.extensions import db
from csa.invoices.operations import issue_invoice, schedule
from csa.models import Invoice, Membership, PaymentPlan, Season
from csa.money.prices import season_prices
from csa.money.profile import farm_profile

LEGAL_NAME = "Gospodarstwo Zielone Pole sp. z o.o."
ADDRESS = "ul. Polna 12\n05-180 Pomiechówek"
TAX_ID = "PL5252248481"
IBAN = "DE89370400440532013000"  # the IBAN every SEPA example uses: valid, nobody's
BIC = "COBADEFFXXX"


def load_demo_invoices(today: date, season: Season, memberships: list[Membership]) -> int:
    """Set the billing profile, give most households monthly instalments (some one payment,
    some quarterly) and issue the invoices due so far; return how many were issued.

    Only the first household (the demo member's) is mailed its invoices; the others' would
    fill the outbox with hundreds of messages nobody reads.
    """
    profile = farm_profile()
    if not profile.iban:
        profile.legal_name = LEGAL_NAME
        profile.address = ADDRESS
        profile.tax_id = TAX_ID
        profile.iban = IBAN
        profile.bic = BIC
        profile.currency = "EUR"
    prices = season_prices(season)
    paying = [m for m in memberships if m.id in prices and prices[m.id] > 0]
    for i, membership in enumerate(paying):
        membership.payment_plan = (
            PaymentPlan.SINGLE
            if i % 10 in (7, 8)
            else PaymentPlan.QUARTERLY
            if i % 10 == 9
            else PaymentPlan.MONTHLY
        )
    db.session.flush()
    done = set(
        (row[0], row[1])
        for row in db.session.execute(
            select(Invoice.membership_id, Invoice.instalment).where(
                Invoice.membership_id.in_([m.id for m in paying])
            )
        )
    )
    lead = timedelta(days=profile.invoice_days_before_due)
    todo = []
    for membership in paying:
        plan = schedule(membership, prices[membership.id])
        for inst in plan:
            issued_on = inst.due - lead
            if issued_on > today:
                break
            if inst.amount_cents > 0 and (membership.id, inst.number) not in done:
                todo.append((issued_on, membership.id, membership, inst, len(plan)))
    todo.sort(key=lambda row: (row[0], row[1], row[3].number))  # numbers follow the dates
    first = memberships[0].id if memberships else None
    for issued_on, membership_id, membership, inst, count in todo:
        issue_invoice(membership, inst, count, issued_on, profile, notify=membership_id == first)
    db.session.flush()
    return len(todo)
