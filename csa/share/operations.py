"""A member's share, written: holds and opt-outs. These flush only; the caller commits.

What they read and the hold rule they refuse with are in csa/share/queries.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import delete, select

from csa.errors import FieldError, ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    Hold,
    HoldAction,
    HoldLog,
    HoldMode,
    Membership,
    OptOut,
    Round,
    User,
)
from csa.share.queries import (
    PlanLine,
    active_crops,
    hold_plan,
    hold_refusal,
    membership_rounds,
    opt_out_ids,
)

# A range hold covers at most this many days: a season is shorter, and a range of years is a
# typing mistake, refused next to the field instead of silently holding a whole contract.
HOLD_RANGE_MAX_DAYS = 366


def _log(
    membership: Membership,
    round_date: date,
    action: HoldAction,
    mode: HoldMode | None,
    by: User | None,
) -> HoldLog:
    """Record a change of a hold in the transaction that makes it (who, when, what)."""
    row = HoldLog(
        membership_id=membership.id,
        round_date=round_date,
        action=action,
        mode=mode,
        by_id=by.id if by is not None else None,
    )
    db.session.add(row)
    return row


def _check_round_for_hold(membership: Membership, round_date: date, today: date) -> Round:
    """The round a hold may be set on or cleared from, or a message saying why not."""
    round_ = db.session.scalar(select(Round).where(Round.date == round_date))
    own = {r.id for r in membership_rounds(membership)} if round_ is not None else set()
    refusal = hold_refusal(round_, round_date, own, today)
    if refusal is not None:
        raise ValidationFailed(refusal)
    assert round_ is not None  # hold_refusal refuses a missing round
    return round_


def _put_hold(
    membership: Membership, round_date: date, mode: HoldMode, by: User | None
) -> HoldLog | None:
    """Write the hold of a round already checked; its log row, or None if nothing changed."""
    hold = db.session.scalar(
        select(Hold).where(Hold.membership_id == membership.id, Hold.round_date == round_date)
    )
    if hold is None:
        db.session.add(Hold(membership_id=membership.id, round_date=round_date, mode=mode))
    elif hold.mode != mode:
        hold.mode = mode
    else:
        return None
    return _log(membership, round_date, HoldAction.SET, mode, by)


def set_hold(
    membership: Membership,
    round_date: date,
    mode: HoldMode,
    today: date,
    by: User | None = None,
) -> None:
    """Put the membership on hold for a coming, open round (or change what happens to it).

    :param by: who asks (the member's login or a coordinator), for the hold log.
    """
    _check_round_for_hold(membership, round_date, today)
    _put_hold(membership, round_date, mode, by)
    db.session.flush()


def clear_hold(
    membership: Membership, round_date: date, today: date, by: User | None = None
) -> None:
    """Take the hold off a coming, open round: the member collects the share after all."""
    _check_round_for_hold(membership, round_date, today)
    removed = changed_rows(
        delete(Hold).where(Hold.membership_id == membership.id, Hold.round_date == round_date)
    )
    if not removed:
        raise ValidationFailed(
            _("There is no hold on %(date)s to cancel.", date=round_date.isoformat())
        )
    _log(membership, round_date, HoldAction.CLEARED, None, by)
    db.session.flush()


@dataclass
class RangeResult:
    """What a range hold did: the rounds changed, and the rounds left alone with the reason."""

    first: date
    last: date
    mode: HoldMode | None  # None when holds were cleared
    changed: list[PlanLine] = field(default_factory=list)
    skipped: list[PlanLine] = field(default_factory=list)  # each with its refusal
    log_ids: list[int] = field(default_factory=list)  # the hold log rows written


def check_range(first: date, last: date) -> None:
    """Refuse a range that runs backwards or is absurdly long, next to its end date."""
    if last < first:
        raise FieldError("last", _("The last day is before the first day."))
    if (last - first).days >= HOLD_RANGE_MAX_DAYS:
        raise FieldError(
            "last",
            _(
                "A hold covers at most %(days)d days; choose a shorter range.",
                days=HOLD_RANGE_MAX_DAYS,
            ),
        )


def set_holds(
    membership: Membership,
    first: date,
    last: date,
    mode: HoldMode,
    today: date,
    by: User | None = None,
) -> RangeResult:
    """Hold every round of the membership from `first` to `last` that is still open.

    Rounds locked already, past or cancelled are listed in the result and not held. A range
    in which no round can be held is refused and writes nothing.
    """
    check_range(first, last)
    plan = hold_plan(membership, first, last, today)
    result = RangeResult(first, last, mode)
    for line in plan:
        (result.skipped if line.refusal else result.changed).append(line)
    if not result.changed:
        raise FieldError(
            "first",
            _(
                "No round of yours from %(first)s to %(last)s can be put on hold any more.",
                first=first.isoformat(),
                last=last.isoformat(),
            )
            if plan
            else _(
                "You have no round from %(first)s to %(last)s.",
                first=first.isoformat(),
                last=last.isoformat(),
            ),
        )
    logs = [_put_hold(membership, line.round.date, mode, by) for line in result.changed]
    db.session.flush()
    result.log_ids = [row.id for row in logs if row is not None]
    return result


def clear_holds(
    membership: Membership, first: date, last: date, today: date, by: User | None = None
) -> RangeResult:
    """Take the holds off every round from `first` to `last` whose hold can still change."""
    check_range(first, last)
    plan = [line for line in hold_plan(membership, first, last, today) if line.hold]
    result = RangeResult(first, last, None)
    for line in plan:
        (result.skipped if line.refusal else result.changed).append(line)
    if not result.changed:
        raise FieldError(
            "first",
            _(
                "There is no hold from %(first)s to %(last)s that can still be cancelled.",
                first=first.isoformat(),
                last=last.isoformat(),
            ),
        )
    dates = [line.round.date for line in result.changed]
    db.session.execute(
        delete(Hold).where(Hold.membership_id == membership.id, Hold.round_date.in_(dates))
    )
    logs = [_log(membership, day, HoldAction.CLEARED, None, by) for day in dates]
    db.session.flush()
    result.log_ids = [row.id for row in logs]
    return result


def set_opt_outs(membership: Membership, crop_ids: Iterable[int]) -> set[int]:
    """Replace the crops this membership never wants; only active crops can be chosen.

    Opt-outs of crops no longer active are kept: the member cannot see them to untick them.
    """
    wanted = set(crop_ids)
    active = {c.id for c in active_crops()}
    unknown = wanted - active
    if unknown:
        raise ValidationFailed(_("Choose only crops from the list."))
    current = opt_out_ids(membership)
    drop = (current & active) - wanted
    if drop:
        db.session.execute(
            delete(OptOut).where(OptOut.membership_id == membership.id, OptOut.crop_id.in_(drop))
        )
    for crop_id in sorted(wanted - current):
        db.session.add(OptOut(membership_id=membership.id, crop_id=crop_id))
    db.session.flush()
    return (current - drop) | wanted
