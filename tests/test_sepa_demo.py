"""The demo's direct debits and reminders load on the demo farm, with invoices or without."""

from __future__ import annotations

from sqlalchemy import func, select

from csa.demo import SEASON_NAME, load_demo
from csa.models import Hardship, Mandate, Membership, OutboxMessage, Reminder, Season
from csa.rounds.lifecycle import farm_today
from csa.sepa.demo import load_demo_sepa


def _count(db, model) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)))


def _demo(db):
    today = farm_today()
    load_demo(today)
    db.session.commit()
    season = db.session.scalar(select(Season).where(Season.name == SEASON_NAME))
    memberships = list(
        db.session.scalars(
            select(Membership).where(Membership.season_id == season.id).order_by(Membership.id)
        )
    )
    return today, season, memberships


def test_the_demo_has_a_mandate_a_reminder_and_a_hardship(db):
    """load_demo runs the money parts in order (csa/demo.py): invoices, a statement paying
    most of them, then this part, which finds overdue invoices to remind."""
    today, season, memberships = _demo(db)
    mandate = db.session.scalar(select(Mandate))
    assert mandate.member_id == memberships[1].member_id
    [reminder] = db.session.scalars(select(Reminder)).all()
    assert reminder.invoice.due_on < today
    assert reminder.open_cents > 0
    assert db.session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.key.like(f"reminder/{reminder.invoice_id}/{reminder.level}%")
        )
    )
    hardship = db.session.scalar(select(Hardship))
    assert hardship.member_id not in (reminder.invoice.member_id, mandate.member_id)
    assert _count(db, Hardship) == 1
    assert load_demo_sepa(today, season, memberships) == "nothing new"  # twice: the same
    assert _count(db, Reminder) == 1
