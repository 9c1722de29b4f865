"""Rounds: distribution dates. The scheduling issue adds the calendar; this is the minimum."""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app
from sqlalchemy import select

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Round, RoundStatus
from csa.schedule import CutoffRule, cutoff_at
from csa.services.split import sites_serving


def cutoff_rule() -> CutoffRule:
    cfg = current_app.config
    return CutoffRule.parse(cfg["CUTOFF_DAYS_BEFORE"], cfg["CUTOFF_TIME"])


def round_cutoff(on_date: date) -> datetime:
    """When a round on this date locks, as naive UTC (see csa.schedule.cutoff_at)."""
    return cutoff_at(on_date, cutoff_rule(), current_app.config["TIMEZONE"])


def create_round(on_date: date, extra: bool = True) -> Round:
    """Add a round by hand; refused when no active site hands out shares that day."""
    if db.session.scalar(select(Round.id).where(Round.date == on_date)):
        raise ValidationFailed(f"There is a round on {on_date.isoformat()} already.")
    if not sites_serving(on_date):
        raise ValidationFailed(
            f"No active pickup site serves {on_date.strftime('%A')} {on_date.isoformat()}."
        )
    round_ = Round(
        date=on_date, status=RoundStatus.OPEN, extra=extra, cutoff_at=round_cutoff(on_date)
    )
    db.session.add(round_)
    db.session.flush()
    return round_


def next_open_round(today: date) -> Round | None:
    """The round a harvest most likely goes to: the first open one from today on."""
    return db.session.scalar(
        select(Round)
        .where(Round.date >= today, Round.status.in_((RoundStatus.PLANNED, RoundStatus.OPEN)))
        .order_by(Round.date)
    )


def open_rounds() -> list[Round]:
    return list(
        db.session.scalars(
            select(Round)
            .where(Round.status.in_((RoundStatus.PLANNED, RoundStatus.OPEN)))
            .order_by(Round.date)
        )
    )
