"""Issuing invoices and credit notes, and choosing a payment plan. Views, the CLI and the
scheduler all call these; each function flushes only, except `issue_due_invoices`, which
commits one invoice at a time (a failure leaves no half invoice and stops nothing else).

Idempotent: one invoice per (membership, instalment) is a unique constraint, so running the
job twice, or in two processes at once, issues each instalment once; the loser's
transaction rolls back whole, its number with it (csa/invoices/numbering.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from csa.core.banking import format_iban, payment_reference
from csa.errors import FieldError
from csa.extensions import db
from csa.invoices.charges import claim_all, pending_charges
from csa.invoices.numbering import number_for, take_seq
from csa.invoices.plans import Instalment, due_on_issue, instalments
from csa.models import (
    FarmProfile,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSeller,
    Membership,
    PaymentPlan,
    Season,
    User,
)
from csa.money.balances import credited_cents
from csa.money.prices import paying_memberships, season_prices
from csa.money.profile import farm_profile
from csa.notices import attachments, mail
from csa.notices.recipients import household_recipients, keyed

log = logging.getLogger(__name__)

REASON_MAX = 200


@dataclass
class IssueReport:
    issued: list[int] = field(default_factory=list)  # invoice ids, in issue order
    failed: int = 0  # instalments that could not be issued now (the next run retries)
    not_ready: bool = False  # the farm's billing profile lacks its legal name or IBAN

    def __str__(self) -> str:
        if self.not_ready:
            return "invoices: none, the billing profile has no legal name or IBAN yet"
        text = f"invoices issued: {len(self.issued)}"
        return f"{text}, failed: {self.failed}" if self.failed else text


def billing_ready(profile: FarmProfile) -> bool:
    """Invoices go out only once the farm has named itself and its bank account (Money →
    Settings): an invoice without them cannot be paid, and it can never be taken back."""
    return bool(profile.legal_name.strip() and profile.iban)


def schedule(membership: Membership, price_cents: int) -> list[Instalment]:
    """The instalments of a membership's season price under its plan."""
    return instalments(membership.start, membership.end, membership.payment_plan.value, price_cents)


def share_line(membership: Membership, instalment: int, count: int) -> str:
    """An invoice's line, in the current language: "Season 2027, 1 × Full, instalment 2 of 6"."""
    what = _(
        "%(season)s, %(shares)s × %(share)s",
        season=membership.season.name,
        shares=membership.shares,
        share=membership.share_type.name,
    )
    if count == 1:
        return what
    return _("%(what)s, instalment %(n)s of %(count)s", what=what, n=instalment, count=count)


def _issue(
    kind: InvoiceKind,
    *,
    membership: Membership | None,
    member_id: int,
    buyer_name: str,
    buyer_address: str,
    issued_on: date,
    due_on: date,
    lines: list[tuple[str, int]],
    currency: str,
    seller: FarmProfile,
    instalment: int | None = None,
    credits: Invoice | None = None,
) -> Invoice:
    year = issued_on.year
    seq = take_seq(year)
    number = number_for(kind, year, seq)
    invoice = Invoice(
        kind=kind,
        year=year,
        seq=seq,
        number=number,
        member_id=member_id,
        membership_id=membership.id if membership is not None else None,
        instalment=instalment,
        credits_id=credits.id if credits is not None else None,
        issued_on=issued_on,
        due_on=due_on,
        total_cents=sum(amount for _text, amount in lines),
        currency=currency,
        reference=payment_reference(number),
        buyer_name=buyer_name[:200],
        buyer_address=buyer_address[:300],
    )
    db.session.add(invoice)
    db.session.flush()
    db.session.add(
        InvoiceSeller(
            invoice_id=invoice.id,
            legal_name=seller.legal_name,
            address=seller.address,
            tax_id=seller.tax_id,
            iban=seller.iban,
            bic=seller.bic,
        )
    )
    for position, (text, amount) in enumerate(lines, start=1):
        db.session.add(
            InvoiceLine(
                invoice_id=invoice.id,
                position=position,
                description=text[:300],
                amount_cents=amount,
            )
        )
    db.session.flush()
    return invoice


def issue_invoice(
    membership: Membership,
    instalment: Instalment,
    count: int,
    issued_on: date,
    profile: FarmProfile,
    *,
    notify: bool = True,
) -> Invoice:
    """Issue the invoice of one instalment (flushes; the caller commits)."""
    member = membership.member
    with force_locale(member.locale):
        line = share_line(membership, instalment.number, count)
        # What other features bill with it (work hours bought out): csa/invoices/charges.py.
        charges = pending_charges(membership, profile.currency)
    invoice = _issue(
        InvoiceKind.INVOICE,
        membership=membership,
        member_id=member.id,
        buyer_name=member.name,
        buyer_address=member.address,
        issued_on=issued_on,
        due_on=due_on_issue(instalment.due, issued_on),
        lines=[(line, instalment.amount_cents), *((c.text, c.amount_cents) for c in charges)],
        currency=profile.currency,
        seller=profile,
        instalment=instalment.number,
    )
    claim_all(charges, invoice)
    if notify:
        tell_household(invoice, profile)
    return invoice


def tell_household(invoice: Invoice, profile: FarmProfile) -> int:
    """Queue the document's mail, its PDF attached, to each reader of the household."""
    member = invoice.member
    sent = 0
    base = current_app.config["BASE_URL"].rstrip("/")
    for to in household_recipients(member):
        with force_locale(to.locale):
            if invoice.kind == InvoiceKind.CREDIT_NOTE:
                subject = _("Credit note %(number)s", number=invoice.number)
            else:
                subject = _("Invoice %(number)s", number=invoice.number)
            body = render_template(
                "mail/invoice_issued.txt",
                invoice=invoice,
                member=member,
                profile=profile,
                iban=format_iban(profile.iban),
                money_url=f"{base}/invoices/mine",
            )
        row = mail.send(
            keyed(f"invoice/{invoice.id}", to),
            to.email,
            subject,
            body,
            attachment=attachments.reference("invoice", invoice.id),
        )
        sent += row is not None
    return sent


def due_instalments(
    today: date, until: date | None = None
) -> list[tuple[Membership, Instalment, int]]:
    """The instalments of seasons running or to come that fall due by `until` (default:
    today + the farm's days before due) and have no invoice yet, in due-date order."""
    profile = farm_profile()
    horizon = (
        until if until is not None else today + timedelta(days=profile.invoice_days_before_due)
    )
    seasons = db.session.scalars(
        select(Season).where(Season.active.is_(True), Season.end >= today, Season.start <= horizon)
    ).all()
    found: list[tuple[Membership, Instalment, int]] = []
    for season in seasons:
        prices = season_prices(season)
        issued = {
            (row[0], row[1])
            for row in db.session.execute(
                select(Invoice.membership_id, Invoice.instalment)
                .join(Membership, Membership.id == Invoice.membership_id)
                .where(Membership.season_id == season.id, Invoice.kind == InvoiceKind.INVOICE)
            )
        }
        for membership in paying_memberships(season):
            price = prices.get(membership.id, 0)
            if price <= 0:
                continue
            plan = schedule(membership, price)
            for inst in plan:
                if inst.due > horizon:
                    break
                if inst.amount_cents > 0 and (membership.id, inst.number) not in issued:
                    found.append((membership, inst, len(plan)))
    found.sort(key=lambda row: (row[1].due, row[0].id, row[1].number))
    return found


def issue_due_invoices(
    today: date, until: date | None = None, *, notify: bool = True
) -> IssueReport:
    """Issue every invoice due by `until` (see due_instalments): one commit per invoice.

    An instalment another process issued first fails on the unique constraint and is rolled
    back (its number too); any other failure is logged, and the next run tries again.
    """
    report = IssueReport()
    profile = farm_profile()
    db.session.commit()  # the profile row, if this is its first use
    if not billing_ready(profile):
        report.not_ready = True
        return report
    todo = [(m.id, inst, count) for m, inst, count in due_instalments(today, until)]
    db.session.commit()  # end the read; each invoice is a transaction of its own
    for membership_id, inst, count in todo:
        try:
            membership = db.session.get(Membership, membership_id)
            if membership is None:
                continue
            invoice = issue_invoice(membership, inst, count, today, profile, notify=notify)
            db.session.commit()
            report.issued.append(invoice.id)
        except (IntegrityError, OperationalError):
            db.session.rollback()
            log.info(
                "instalment %s of membership %s was issued by another run",
                inst.number,
                membership_id,
            )
        except Exception:
            db.session.rollback()
            report.failed += 1
            log.exception(
                "issuing instalment %s of membership %s failed", inst.number, membership_id
            )
    return report


def open_to_credit(invoice: Invoice) -> int:
    """What of an invoice a credit note may still correct: its total less notes so far."""
    return invoice.total_cents - credited_cents([invoice.id])[invoice.id]


def issue_credit_note(
    invoice: Invoice, amount_cents: int, reason: str, today: date, *, notify: bool = True
) -> Invoice:
    """Correct an issued invoice by a numbered credit note for part or all of it (flushes).

    FieldError when the amount is zero or more than what is not yet credited, or when the
    reason is empty. The number is taken first: it holds the counter until the commit, so a
    second note at the same moment waits and then sees this one's amount.
    """
    reason = " ".join(reason.split())[:REASON_MAX]
    if invoice.kind != InvoiceKind.INVOICE:
        raise FieldError("amount", _("Only an invoice can be corrected by a credit note."))
    if not reason:
        raise FieldError("reason", _("Say why the invoice is corrected."))
    if amount_cents <= 0:
        raise FieldError("amount", _("Enter an amount above zero."))
    if amount_cents > open_to_credit(invoice):
        raise FieldError("amount", _("A credit note cannot exceed what is left of the invoice."))
    profile = farm_profile()
    with force_locale(invoice.member.locale):
        line = _(
            "Correction of invoice %(number)s: %(reason)s", number=invoice.number, reason=reason
        )
    note = _issue(
        InvoiceKind.CREDIT_NOTE,
        membership=invoice.membership,
        member_id=invoice.member_id,
        buyer_name=invoice.buyer_name,
        buyer_address=invoice.buyer_address,
        issued_on=today,
        due_on=today,
        lines=[(line, amount_cents)],
        currency=invoice.currency,
        seller=profile,
        credits=invoice,
    )
    # Checked again under the counter's lock, this note included: one issued meanwhile
    # by someone else counts now.
    credited = db.session.scalar(
        select(func.coalesce(func.sum(Invoice.total_cents), 0)).where(
            Invoice.credits_id == invoice.id, Invoice.kind == InvoiceKind.CREDIT_NOTE
        )
    )
    if int(credited or 0) > invoice.total_cents:
        raise FieldError("amount", _("A credit note cannot exceed what is left of the invoice."))
    if notify:
        tell_household(note, profile)
    return note


def has_invoice(membership: Membership) -> bool:
    """Whether any invoice of the membership was issued (its plan is fixed from then on)."""
    return (
        db.session.scalar(
            select(Invoice.id)
            .where(Invoice.membership_id == membership.id, Invoice.kind == InvoiceKind.INVOICE)
            .limit(1)
        )
        is not None
    )


def choose_plan(membership: Membership, plan: str, by: User | None = None) -> bool:
    """Set a membership's payment plan (member or coordinator); True if it changed.

    Only the plans the farm allows, and only until its first invoice is issued: the
    instalments already numbered would no longer match the plan.
    """
    profile = farm_profile()
    try:
        wanted = PaymentPlan(plan)
    except ValueError:
        raise FieldError("plan", _("Choose one of the ways to pay.")) from None
    if wanted not in profile.plans:
        raise FieldError("plan", _("The farm does not offer this way to pay."))
    if has_invoice(membership):
        raise FieldError("plan", _("The way to pay is fixed once the first invoice is issued."))
    if membership.payment_plan == wanted:
        return False
    membership.payment_plan = wanted
    db.session.flush()
    log.info(
        "payment plan of membership %s set to %s by %s", membership.id, wanted, by.id if by else "-"
    )
    return True
