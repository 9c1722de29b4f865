"""The pickup calendar in the database: derive rounds, cancel, move, add extra ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from csa.core.schedule import round_dates
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    HarvestAudit,
    HarvestEntry,
    Hold,
    Membership,
    MembershipStatus,
    PickupSite,
    Round,
    RoundStatus,
    Season,
    User,
)
from csa.rounds.lifecycle import create_round, round_cutoff


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


def _audit(round_: Round, user: User | None, action: str, note: str) -> None:
    db.session.add(
        HarvestAudit(
            round_id=round_.id,
            crop_id=None,
            user_id=user.id if user else None,
            action=action,
            note=note[:300],
        )
    )


def cancel_round(round_: Round, reason: str, user: User | None) -> None:
    """Cancel a round that has not locked; the reason is shown to members and mailed."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(_("Give a reason: members will see it."))
    if round_.status not in (RoundStatus.PLANNED, RoundStatus.OPEN):
        raise ValidationFailed(_("Only a round that has not locked can be cancelled."))
    round_.status = RoundStatus.CANCELLED
    round_.cancel_reason = reason
    round_.notified_at = None  # the cancellation notice is still to be sent
    _audit(round_, user, "cancel", reason)
    db.session.flush()


def move_round(round_: Round, new_date: date, user: User | None) -> None:
    """Move a round to another date; it still feeds the sites of its scheduled date."""
    if round_.status not in (RoundStatus.PLANNED, RoundStatus.OPEN):
        raise ValidationFailed(_("Only a round that has not locked can be moved."))
    if new_date == round_.date:
        return
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
    _audit(round_, user, "move", f"{old.isoformat()} -> {new_date.isoformat()}")
    db.session.flush()


def add_extra_round(on_date: date, user: User | None) -> Round:
    """An extra round on a date a site serves (e.g. a second harvest week)."""
    round_ = create_round(on_date, extra=True)
    _audit(round_, user, "extra", "")
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
    rows = []
    for r in rounds:
        served = sorted(
            (s for s in sites if s.serves(r.schedule_date)), key=lambda s: s.name.lower()
        )
        served_ids = {s.id for s in served}
        eligible = [
            m for m in memberships if m.site_id in served_ids and m.start <= r.date <= m.end
        ]
        holds = sum((m.id, r.date) in held for m in eligible)
        rows.append(
            CalendarRow(r, served, sum(m.shares for m in eligible), holds, harvested.get(r.id, 0))
        )
    return rows
