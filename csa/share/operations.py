"""A member's share, written: holds and opt-outs. These flush only; the caller commits.

What they read and the hold rule they refuse with are in csa/share/queries.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import delete, select

from csa.errors import ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    Hold,
    HoldMode,
    Membership,
    OptOut,
    Round,
)
from csa.share.queries import active_crops, hold_refusal, membership_rounds, opt_out_ids


def _check_round_for_hold(membership: Membership, round_date: date, today: date) -> Round:
    """The round a hold may be set on or cleared from, or a message saying why not."""
    round_ = db.session.scalar(select(Round).where(Round.date == round_date))
    own = {r.id for r in membership_rounds(membership)} if round_ is not None else set()
    refusal = hold_refusal(round_, round_date, own, today)
    if refusal is not None:
        raise ValidationFailed(refusal)
    assert round_ is not None  # hold_refusal refuses a missing round
    return round_


def set_hold(membership: Membership, round_date: date, mode: HoldMode, today: date) -> Hold:
    """Put the membership on hold for a coming, open round (or change what happens to it)."""
    _check_round_for_hold(membership, round_date, today)
    hold = db.session.scalar(
        select(Hold).where(Hold.membership_id == membership.id, Hold.round_date == round_date)
    )
    if hold is None:
        hold = Hold(membership_id=membership.id, round_date=round_date, mode=mode)
        db.session.add(hold)
    else:
        hold.mode = mode
    db.session.flush()
    return hold


def clear_hold(membership: Membership, round_date: date, today: date) -> None:
    """Take the hold off a coming, open round: the member collects the share after all."""
    _check_round_for_hold(membership, round_date, today)
    removed = changed_rows(
        delete(Hold).where(Hold.membership_id == membership.id, Hold.round_date == round_date)
    )
    if not removed:
        raise ValidationFailed(
            _("There is no hold on %(date)s to cancel.", date=round_date.isoformat())
        )
    db.session.flush()


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
