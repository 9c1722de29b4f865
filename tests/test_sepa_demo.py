"""The demo's direct debits and reminders load on the demo farm, with invoices or without."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from csa.demo import SEASON_NAME, load_demo
from csa.models import Hardship, Mandate, Membership, OutboxMessage, Reminder, Season
from csa.rounds.lifecycle import farm_today
from csa.sepa.demo import load_demo_sepa
from tests.sepa_helpers import make_invoice


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


def test_the_demo_without_invoices_has_a_mandate_and_a_hardship(db):
    today, season, memberships = _demo(db)
    summary = load_demo_sepa(today, season, memberships)
    db.session.commit()
    assert "mandate" in summary
    mandate = db.session.scalar(select(Mandate))
    assert mandate.member_id == memberships[1].member_id
    assert _count(db, Hardship) == 1
    assert _count(db, Reminder) == 0
    assert load_demo_sepa(today, season, memberships) == "nothing new"  # twice: the same


def test_the_demo_with_an_overdue_invoice_sends_its_friendly_reminder(db):
    today, season, memberships = _demo(db)
    late = make_invoice(memberships[4], 32_500, today - timedelta(days=12))
    make_invoice(memberships[5], 32_500, today + timedelta(days=12))
    db.session.commit()
    load_demo_sepa(today, season, memberships)
    db.session.commit()
    [reminder] = db.session.scalars(select(Reminder)).all()
    assert reminder.invoice_id == late.id
    assert reminder.level == 1
    assert db.session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.key.like(f"reminder/{late.id}/1%"))
    )
    hardship = db.session.scalar(select(Hardship))
    assert hardship.member_id not in (late.member_id, memberships[1].member_id)
