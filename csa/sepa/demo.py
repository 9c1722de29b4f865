"""The demo farm's direct debits and reminders: one household on SEPA debit, a friendly
reminder sent for an overdue invoice (when the invoices part made some), one household
under a hardship arrangement. Flushes only; csa/demo.py commits."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from csa.core.banking import clean_creditor_id
from csa.extensions import db
from csa.models import Invoice, MandateKind, Membership, MembershipStatus, Reminder, Season
from csa.money.profile import farm_profile
from csa.reminders import operations as reminders
from csa.reminders.rules import FRIENDLY
from csa.sepa import operations as sepa

DEMO_IBAN = "DE02120300000000202051"  # a valid test account (Deutsche Kreditbank)
# The test creditor identifier banks publish for trying files out.
DEMO_CREDITOR_ID = "DE98ZZZ09999999999"


def load_demo_sepa(today: date, season: Season, memberships: list[Membership]) -> str:
    """Add the demo's mandate, reminder and hardship arrangement; return what was done."""
    done: list[str] = []
    profile = farm_profile()
    if not profile.creditor_id:
        profile.creditor_id = clean_creditor_id(DEMO_CREDITOR_ID)
    running = [m for m in memberships if m.status == MembershipStatus.ACTIVE]
    debtor = running[1] if len(running) > 1 else (running or memberships)[0]
    if sepa.active_mandate(debtor.member_id) is None:
        sepa.record_mandate(
            debtor.member,
            holder_name=debtor.member.name[:70],
            iban=DEMO_IBAN,
            bic="",
            reference="",
            signed_on=min(today, season.start - timedelta(days=14)),
            kind=MandateKind.RECURRING,
            by=None,
            today=today,
        )
        done.append(f"a recurring mandate of {debtor.member.name}")
    reminded: int | None = None
    if db.session.scalar(select(Invoice.id).limit(1)) is not None:
        # The friendly one if an invoice is at that stage, else the second (an instalment
        # due two months ago is past both, and only the second goes then).
        due = reminders.due_reminders(today)
        due.sort(key=lambda d: d.level != FRIENDLY)
        already = db.session.scalar(select(Reminder.id).limit(1))
        if due and already is None:
            first = due[0]
            reminders.send_reminder(first, datetime.combine(today, time(7, 0)))
            reminded = first.invoice.member_id
            kind = "friendly" if first.level == FRIENDLY else "second"
            done.append(f"a {kind} reminder for invoice {first.invoice.number}")
    hardship = next(
        (m for m in running[2:] if m.member_id not in (debtor.member_id, reminded)), None
    )
    if hardship is not None and reminders.hardship_of(hardship.member_id, today) is None:
        reminders.mark_hardship(
            hardship.member,
            note="Lost a job in spring; pays the rest after the harvest (agreed by phone).",
            until=None,
            by=None,
            today=today,
        )
        done.append(f"a hardship arrangement of {hardship.member.name}")
    db.session.flush()
    return "; ".join(done) or "nothing new"
