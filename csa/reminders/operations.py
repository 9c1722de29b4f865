"""Reminders sent by the scheduler, and hardship arrangements. Flushes only, except
`send_due`, the job's body, which commits each invoice on its own (one invoice failing is
rolled back and logged; the others go on).

Two runs send one reminder of each level per invoice: the Reminder row is unique per
(invoice, level) and every mail's outbox key is `reminder/<invoice id>/<level>` (plus the
co-member's part, csa/notices/recipients.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from csa.core.banking import format_iban
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import NOTE_MAX, FarmProfile, Hardship, Invoice, InvoiceKind, Member, Reminder, User
from csa.money.balances import open_cents
from csa.money.profile import farm_profile
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed
from csa.reminders import rules
from csa.sepa.operations import pending_invoice_ids

log = logging.getLogger(__name__)


# --- hardship -------------------------------------------------------------------------------


def hardship_of(member_id: int, today: date) -> Hardship | None:
    """The household's hardship arrangement in force today, if any."""
    for row in db.session.scalars(
        select(Hardship).where(Hardship.member_id == member_id).order_by(Hardship.id.desc())
    ):
        if row.active_on(today):
            return row
    return None


def members_in_hardship(today: date) -> set[int]:
    """The households under a hardship arrangement today."""
    rows = db.session.execute(
        select(Hardship.member_id).where(
            Hardship.starts_on <= today,
            (Hardship.ends_on.is_(None)) | (Hardship.ends_on >= today),
        )
    )
    return {member_id for (member_id,) in rows}


def mark_hardship(
    member: Member, *, note: str, until: date | None, by: User | None, today: date
) -> Hardship:
    """Start a hardship arrangement today (to `until`, or open-ended): no more reminders."""
    if len(note) > NOTE_MAX:
        raise FieldError("note", _("Keep the note under %(n)s characters.", n=NOTE_MAX))
    if until is not None and until < today:
        raise FieldError("until", _("The arrangement cannot end before today."))
    if hardship_of(member.id, today) is not None:
        raise ValidationFailed(_("This household is under a hardship arrangement already."))
    row = Hardship(
        member_id=member.id,
        note=note.strip(),
        starts_on=today,
        ends_on=until,
        created_by_id=by.id if by is not None else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


def end_hardship(member: Member, today: date) -> Hardship:
    """End the household's arrangement today: reminders may go again from tomorrow."""
    row = hardship_of(member.id, today)
    if row is None:
        raise ValidationFailed(_("This household is not under a hardship arrangement."))
    row.ends_on = today
    db.session.flush()
    return row


# --- reminders ------------------------------------------------------------------------------


def _subject(level: int, number: str) -> str:
    if level == rules.FRIENDLY:
        return _("A friendly reminder: invoice %(number)s", number=number)
    return _("Second reminder: invoice %(number)s is overdue", number=number)


def queue_reminder(invoice: Invoice, level: int, cents: int, profile: FarmProfile) -> int:
    """Queue the reminder's mail to each reader of the household, in each one's language."""
    template = "mail/reminder_first.txt" if level == rules.FRIENDLY else "mail/reminder_second.txt"
    base = f"reminder/{invoice.id}/{level}"
    sent = 0
    for to in household_recipients(invoice.member):
        with force_locale(to.locale):
            subject = _subject(level, invoice.number)
            body = render_template(
                template,
                invoice=invoice,
                open_cents=cents,
                profile=profile,
                iban=format_iban(profile.iban) if profile.iban else "",
                farm_name=profile.legal_name or current_app.config.get("FARM_NAME", ""),
            )
        if mail.send(keyed(base, to), to.email, subject, body):
            sent += 1
    return sent


@dataclass(frozen=True)
class Due:
    invoice: Invoice
    level: int
    open_cents: int


def due_reminders(today: date) -> list[Due]:
    """Every reminder due today, oldest due date first."""
    profile = farm_profile()
    first, second = profile.reminder_first_days, profile.reminder_second_days
    invoices = list(
        db.session.scalars(
            select(Invoice)
            .options(joinedload(Invoice.member))
            .where(
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.due_on <= today - timedelta(days=first),
                ~select(Reminder.id)
                .where(Reminder.invoice_id == Invoice.id, Reminder.level == rules.SECOND)
                .exists(),
            )
            .order_by(Invoice.due_on, Invoice.id)
        )
    )
    if not invoices:
        return []
    ids = [i.id for i in invoices]
    owed = open_cents(invoices)
    hardship = members_in_hardship(today)
    pending = pending_invoice_ids(ids)
    sent_levels: dict[int, set[int]] = {}
    for start in range(0, len(ids), 500):
        for sent_id, sent_level in db.session.execute(
            select(Reminder.invoice_id, Reminder.level).where(
                Reminder.invoice_id.in_(ids[start : start + 500])
            )
        ):
            sent_levels.setdefault(sent_id, set()).add(sent_level)
    due: list[Due] = []
    for invoice in invoices:
        state = rules.InvoiceState(
            due_on=invoice.due_on,
            open_cents=owed.get(invoice.id, 0),
            sent=frozenset(sent_levels.get(invoice.id, ())),
            hardship=invoice.member_id in hardship,
            pending_debit=invoice.id in pending,
        )
        level = rules.reminder_due(state, today, first, second)
        if level is not None:
            due.append(Due(invoice, level, state.open_cents))
    return due


def send_reminder(due: Due, now: datetime) -> Reminder:
    """Record one reminder and queue its mails (flushes only)."""
    reminder = Reminder(
        invoice_id=due.invoice.id, level=due.level, sent_at=now, open_cents=due.open_cents
    )
    db.session.add(reminder)
    db.session.flush()  # a second process sending it too fails here, on the unique key
    queue_reminder(due.invoice, due.level, due.open_cents, farm_profile())
    return reminder


def send_due(now: datetime, today: date) -> int:
    """Send every reminder due today, one commit per invoice; return how many went out."""
    done = 0
    for due in due_reminders(today):
        invoice_id, level = due.invoice.id, due.level
        try:
            send_reminder(due, now)
            db.session.commit()
            done += 1
        except Exception:
            db.session.rollback()
            log.exception(
                "the reminder %s of invoice %s failed; the next run retries", level, invoice_id
            )
    return done
