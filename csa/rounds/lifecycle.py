"""The life of a round, in one place: every change of its status is made here.

Create, ensure the coming rounds, cancel, move, add an extra round, lock, reopen and
distribute: views, CLI commands and jobs all call these functions, which flush only. This
module is also the one writer of round events (RoundLog); tests/test_round_life.py fails on
any other module that assigns a round's status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update

from csa.changes.terms import approved_steps, step_on
from csa.core.clock import to_local, utcnow
from csa.core.schedule import CutoffRule, cutoff_at, round_dates
from csa.errors import ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    LOCKED_STATES,
    NOTE_MAX,
    OPEN_STATES,
    Allocation,
    Crop,
    HarvestEntry,
    Hold,
    Membership,
    MembershipStatus,
    PickupSite,
    Round,
    RoundAction,
    RoundLog,
    RoundStatus,
    RoundSurplus,
    Season,
    User,
)
from csa.rounds.split import compute_split, sites_serving, store_split


def farm_today(now_utc: datetime | None = None) -> date:
    """Today on the farm, whatever zone the host runs in: 00:30 belongs to the farm's date."""
    return to_local(now_utc or utcnow(), current_app.config["TIMEZONE"]).date()


def cutoff_rule() -> CutoffRule:
    cfg = current_app.config
    return CutoffRule.parse(cfg["CUTOFF_DAYS_BEFORE"], cfg["CUTOFF_TIME"])


def round_cutoff(on_date: date) -> datetime:
    """When a round on this date locks, as naive UTC (see csa.schedule.cutoff_at)."""
    return cutoff_at(on_date, cutoff_rule(), current_app.config["TIMEZONE"])


def create_round(on_date: date, extra: bool = False) -> Round:
    """Create the round of a date; refused when no active site hands out shares that day.

    Not logged: the demo and the tests build calendars with it. A coordinator's addition
    goes through add_round, which refuses past dates and is logged.
    """
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
        select(Round).where(Round.date >= today, Round.status.in_(OPEN_STATES)).order_by(Round.date)
    )


def open_rounds() -> list[Round]:
    return list(
        db.session.scalars(select(Round).where(Round.status.in_(OPEN_STATES)).order_by(Round.date))
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


def ensure_rounds(today: date, weeks_ahead: int) -> list[Round]:
    """Create the rounds of the coming weeks that do not exist yet (idempotent)."""
    last = today + timedelta(weeks=weeks_ahead)
    seasons = db.session.scalars(
        select(Season).where(Season.active, Season.start <= last, Season.end >= today)
    ).all()
    sites = db.session.scalars(select(PickupSite).where(PickupSite.active)).all()
    rhythms = [s.rhythm for s in sites]
    taken = set(
        db.session.scalars(select(Round.date).where(Round.date >= today, Round.date <= last))
    ) | set(
        db.session.scalars(
            select(Round.moved_from).where(Round.moved_from >= today, Round.moved_from <= last)
        )
    )
    created = []
    for season in seasons:
        for day in round_dates(rhythms, max(today, season.start), min(last, season.end)):
            if day in taken:
                continue
            round_ = Round(date=day, status=RoundStatus.OPEN, cutoff_at=round_cutoff(day))
            db.session.add(round_)
            taken.add(day)
            created.append(round_)
    db.session.flush()
    return created


def _log(round_: Round, user: User | None, action: RoundAction, note: str = "") -> None:
    """Record an event of the round's life in the transaction that makes the change."""
    db.session.add(
        RoundLog(
            round_id=round_.id,
            user_id=user.id if user else None,
            action=action,
            note=note[:NOTE_MAX],
        )
    )


def round_log(round_: Round) -> list[RoundLog]:
    """The round's events, newest first (the harvest audit page shows them)."""
    return list(
        db.session.scalars(
            select(RoundLog)
            .where(RoundLog.round_id == round_.id)
            .order_by(RoundLog.at.desc(), RoundLog.id.desc())
        )
    )


def _not_past(day: date, today: date | None) -> None:
    if day < (today or farm_today()):
        raise ValidationFailed(_("%(date)s is in the past.", date=str(format_date(day, "medium"))))


def cancel_round(round_: Round, reason: str, user: User | None) -> None:
    """Cancel a round that has not locked; the reason is shown to members and mailed."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(_("Give a reason: members will see it."))
    if round_.status not in OPEN_STATES:
        raise ValidationFailed(_("Only a round that has not locked can be cancelled."))
    round_.status = RoundStatus.CANCELLED
    round_.cancel_reason = reason
    round_.notified_at = None  # the cancellation notice is still to be sent
    _log(round_, user, RoundAction.CANCEL, reason)
    db.session.flush()


def move_round(round_: Round, new_date: date, user: User | None, today: date | None = None) -> None:
    """Move a round to another date, not a past one; it still feeds its scheduled sites."""
    if round_.status not in OPEN_STATES:
        raise ValidationFailed(_("Only a round that has not locked can be moved."))
    if new_date == round_.date:
        return
    _not_past(new_date, today)
    clash = db.session.scalar(
        select(Round.id).where(
            Round.id != round_.id, or_(Round.date == new_date, Round.moved_from == new_date)
        )
    )
    if clash:
        raise ValidationFailed(
            _("There is a round on %(date)s already.", date=new_date.isoformat())
        )
    old = round_.date
    if round_.moved_from is None:
        round_.moved_from = old
    # Holds follow the round they were put on.
    for hold in db.session.scalars(select(Hold).where(Hold.round_date == old)):
        hold.round_date = new_date
    round_.date = new_date
    round_.cutoff_at = round_cutoff(new_date)
    _log(round_, user, RoundAction.MOVE, f"{old.isoformat()} -> {new_date.isoformat()}")
    db.session.flush()


def add_round(on_date: date, user: User | None, today: date | None = None) -> Round:
    """Add a round by hand (an extra one, e.g. a second harvest week): logged, never past.

    The one way a coordinator adds a round: the calendar, the rounds page and the CLI.
    """
    _not_past(on_date, today)
    round_ = create_round(on_date, extra=True)
    _log(round_, user, RoundAction.EXTRA)
    db.session.flush()
    return round_


@dataclass
class CalendarRow:
    round: Round
    sites: list[PickupSite]
    shares: int
    holds: int
    harvest_lines: int


def calendar(first: date, last: date) -> list[CalendarRow]:
    """The rounds between two dates with what the coordinator checks at a glance."""
    rounds = db.session.scalars(
        select(Round).where(Round.date >= first, Round.date <= last).order_by(Round.date)
    ).all()
    harvested = {
        round_id: lines
        for round_id, lines in db.session.execute(
            select(HarvestEntry.round_id, func.count())
            .where(HarvestEntry.round_id.in_([r.id for r in rounds]))
            .group_by(HarvestEntry.round_id)
        )
    }
    # Three queries for the whole window instead of three per round.
    sites = db.session.scalars(select(PickupSite).where(PickupSite.active)).all()
    memberships = db.session.scalars(
        select(Membership).where(
            Membership.status == MembershipStatus.ACTIVE,
            Membership.start <= last,
            Membership.end >= first,
        )
    ).all()
    held = set(
        db.session.execute(
            select(Hold.membership_id, Hold.round_date).where(
                Hold.round_date >= first, Hold.round_date <= last
            )
        ).all()
    )
    steps = approved_steps([m.id for m in memberships])  # the terms in force per round
    rows = []
    for r in rounds:
        served = sorted(
            (s for s in sites if s.serves(r.schedule_date)), key=lambda s: s.name.lower()
        )
        served_ids = {s.id for s in served}
        terms = {
            m.id: step_on(m, steps.get(m.id, []), r.date)
            for m in memberships
            if m.start <= r.date <= m.end
        }
        eligible = [mid for mid, t in terms.items() if t.site_id in served_ids]
        holds = sum((mid, r.date) in held for mid in eligible)
        shares = sum(terms[mid].shares for mid in eligible)
        rows.append(CalendarRow(r, served, shares, holds, harvested.get(r.id, 0)))
    return rows


def lock_round(round_: Round, user: User | None = None) -> bool:
    """Store the split and lock the round; False (and no change) if it was locked already.

    Runs in the caller's transaction, so a crash leaves the round either locked with all
    its allocations or open with none.
    """
    # Claim the round with one atomic UPDATE: of two processes locking together, exactly
    # one changes the row; the other sees rowcount 0 and leaves it alone.
    claimed = changed_rows(
        update(Round)
        .where(Round.id == round_.id, Round.status.in_(OPEN_STATES))
        .values(status=RoundStatus.LOCKED, locked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        db.session.refresh(round_)
        if round_.status == RoundStatus.CANCELLED:
            raise ValidationFailed(_("A cancelled round cannot be locked."))
        return False
    split = compute_split(round_)
    store_split(split)
    db.session.refresh(round_)
    stored = sum(len(s.shares) for s in split.splits.values())
    _log(round_, user, RoundAction.LOCK, f"{stored} allocations stored")
    db.session.flush()
    return True


def reopen_round(round_: Round, user: User | None, reason: str = "") -> None:
    """Unlock a locked round (coordinator only, audited): its stored split is dropped."""
    if round_.status not in LOCKED_STATES:
        raise ValidationFailed(_("Only a locked round can be reopened."))
    later = db.session.scalar(
        select(func.count())
        .select_from(Round)
        .where(Round.date > round_.date, Round.status.in_(LOCKED_STATES))
    )
    if later:
        raise ValidationFailed(
            _(
                "A later round is locked already; reopen the later rounds first so the "
                "season balances stay exact."
            )
        )
    db.session.execute(delete(Allocation).where(Allocation.round_id == round_.id))
    db.session.execute(delete(RoundSurplus).where(RoundSurplus.round_id == round_.id))
    round_.status = RoundStatus.OPEN
    round_.locked_at = None
    round_.sheets_at = None
    # Re-run the after-lock steps (sheets) when it locks again; notices are keyed per
    # round and membership, so nobody is mailed twice.
    round_.notified_at = None
    _log(round_, user, RoundAction.REOPEN, reason.strip())
    db.session.flush()


def distribute_round(round_: Round, user: User | None = None, *, announced: bool = False) -> bool:
    """Mark a locked round handed out; False (and no change) unless it was locked.

    :param announced: the round was announced outside the app (the demo's past rounds), so
        its notices count as sent and nobody is mailed for it.
    """
    values: dict[str, object] = {"status": RoundStatus.DISTRIBUTED}
    if announced:
        values["notified_at"] = func.coalesce(Round.notified_at, Round.locked_at, utcnow())
    # One atomic UPDATE, as in lock_round: of two processes, exactly one changes the row.
    claimed = changed_rows(
        update(Round)
        .where(Round.id == round_.id, Round.status == RoundStatus.LOCKED)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(round_)
    if not claimed:
        return False
    _log(round_, user, RoundAction.DISTRIBUTE)
    db.session.flush()
    return True


def distribute_past_rounds(today: date) -> list[Round]:
    """Mark distributed every locked round before today whose notices went out."""
    past = db.session.scalars(
        select(Round)
        .where(
            Round.status == RoundStatus.LOCKED, Round.date < today, Round.notified_at.is_not(None)
        )
        .order_by(Round.date)
    ).all()
    return [round_ for round_ in past if distribute_round(round_)]
