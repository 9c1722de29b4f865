"""Rounds: distribution dates. The scheduling issue adds the calendar; this is the minimum."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import func, select

from csa.core.clock import to_local, utcnow
from csa.core.schedule import CutoffRule, cutoff_at
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Crop, HarvestEntry, Round, RoundStatus, Season
from csa.rounds.split import sites_serving


def farm_today(now_utc: datetime | None = None) -> date:
    """Today on the farm, whatever zone the host runs in: 00:30 belongs to the farm's date."""
    return to_local(now_utc or utcnow(), current_app.config["TIMEZONE"]).date()


def cutoff_rule() -> CutoffRule:
    cfg = current_app.config
    return CutoffRule.parse(cfg["CUTOFF_DAYS_BEFORE"], cfg["CUTOFF_TIME"])


def round_cutoff(on_date: date) -> datetime:
    """When a round on this date locks, as naive UTC (see csa.schedule.cutoff_at)."""
    return cutoff_at(on_date, cutoff_rule(), current_app.config["TIMEZONE"])


def create_round(on_date: date, extra: bool = True) -> Round:
    """Add a round by hand; refused when no active site hands out shares that day."""
    if db.session.scalar(select(Round.id).where(Round.date == on_date)):
        raise ValidationFailed(_("There is a round on %(date)s already.", date=on_date.isoformat()))
    if not sites_serving(on_date):
        raise ValidationFailed(
            _(
                "No active pickup site serves %(weekday)s %(date)s.",
                weekday=format_date(on_date, "EEEE"),
                date=on_date.isoformat(),
            )
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


@dataclass
class SeasonHarvest:
    """What came off the field in a season, per crop and per week (Monday to Sunday)."""

    season: Season | None
    weeks: list[date] = field(default_factory=list)  # the Monday of each week shown
    crops: list[Crop] = field(default_factory=list)
    milli: dict[int, list[int]] = field(default_factory=dict)  # crop_id -> a total per week

    def total(self, crop_id: int) -> int:
        return sum(self.milli.get(crop_id, []))


def season_on(today: date) -> Season | None:
    """The season running today, else the one that started last (never one not begun)."""
    running: Season | None = db.session.scalar(
        select(Season)
        .where(Season.start <= today, Season.end >= today)
        .order_by(Season.start.desc())
        .limit(1)
    )
    if running is not None:
        return running
    latest: Season | None = db.session.scalar(
        select(Season).where(Season.start <= today).order_by(Season.start.desc()).limit(1)
    )
    return latest


def season_harvest(season: Season | None, today: date) -> SeasonHarvest:
    """Sum the harvest entries of a season's rounds by crop and week, up to this week.

    Cancelled rounds are left out: what was recorded for them was never handed out.
    """
    if season is None:
        return SeasonHarvest(None)
    rows = db.session.execute(
        select(HarvestEntry.crop_id, Round.date, func.sum(HarvestEntry.quantity_milli))
        .join(Round, Round.id == HarvestEntry.round_id)
        .where(
            Round.date >= season.start,
            Round.date <= season.end,
            Round.status != RoundStatus.CANCELLED,
        )
        .group_by(HarvestEntry.crop_id, Round.date)
    ).all()
    first = season.start - timedelta(days=season.start.weekday())
    last_day = max([min(today, season.end), *(day for _c, day, _q in rows)])
    last = last_day - timedelta(days=last_day.weekday())
    weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    milli: dict[int, list[int]] = {}
    for crop_id, day, total in rows:
        per_week = milli.setdefault(crop_id, [0] * len(weeks))
        per_week[(day - first).days // 7] += int(total)
    crops = list(db.session.scalars(select(Crop).where(Crop.id.in_(milli)).order_by(Crop.name)))
    return SeasonHarvest(season, weeks, crops, milli)
