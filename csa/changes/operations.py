"""Changes of a membership's terms from an effective round: ask, decide, withdraw, enter.

A change never edits the membership: it is a `MembershipChange` row, and the terms in force
on a date are read by csa/changes/terms.py. The first round a change applies to must still
be open and before its cutoff (the hold deadline), never a past one, so a round whose
members were told what they get, or whose split is stored, never changes. Every rule is
checked before anything is written; these functions flush only, the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from csa.changes.terms import InForce, in_force_one, places_taken_from
from csa.core.clock import utcnow
from csa.errors import Conflict, FieldError, ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    LOCKED_STATES,
    NOTE_MAX,
    OCCUPYING,
    OPEN_STATES,
    ChangeState,
    Membership,
    MembershipChange,
    PickupSite,
    Round,
    ShareType,
    User,
)
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed
from csa.rounds.lifecycle import round_cutoff

MAX_SHARES = 999  # as the register's form allows


@dataclass(frozen=True)
class ChangeData:
    """The terms asked for and the date of the first round they apply to."""

    effective: date
    share_type: ShareType
    shares: int
    site: PickupSite


def _cutoff(round_: Round) -> datetime:
    return round_.cutoff_at or round_cutoff(round_.date)


def effective_rounds(membership: Membership, today: date, now: datetime) -> list[Round]:
    """The rounds a change of this membership may start from: open, from today on, before
    their cutoff, within the contract's dates, and after the latest approved change."""
    if membership.status not in OCCUPYING:
        return []
    first = max(today, membership.start, _latest_approved(membership) or today)
    rounds = db.session.scalars(
        select(Round)
        .where(
            Round.date >= first,
            Round.date <= membership.end,
            Round.status.in_(OPEN_STATES),
        )
        .order_by(Round.date)
    )
    locked_after = _first_locked_from(first)
    return [
        r for r in rounds if _cutoff(r) > now and (locked_after is None or r.date > locked_after)
    ]


def _latest_approved(membership: Membership) -> date | None:
    return db.session.scalar(
        select(func.max(MembershipChange.effective)).where(
            MembershipChange.membership_id == membership.id,
            MembershipChange.state == ChangeState.APPROVED,
        )
    )


def _first_locked_from(day: date) -> date | None:
    """The latest locked round on or after a day: a change may start only after it, so a
    stored split never meets terms that were not in force when it was stored."""
    return db.session.scalar(
        select(func.max(Round.date)).where(Round.date >= day, Round.status.in_(LOCKED_STATES))
    )


def check_change(
    membership: Membership,
    data: ChangeData,
    today: date,
    now: datetime,
) -> InForce:
    """Refuse a change that breaks a rule (with the field it concerns); return the terms in
    force on the effective date, which the change replaces. Reads only."""
    if membership.status not in OCCUPYING:
        raise ValidationFailed(_("Only an active or paused membership can be changed."))
    if not 1 <= data.shares <= MAX_SHARES:
        raise FieldError("shares", _("Choose from 1 to %(most)s shares.", most=MAX_SHARES))
    allowed = {r.date for r in effective_rounds(membership, today, now)}
    if data.effective not in allowed:
        raise FieldError(
            "effective",
            _(
                "A change can start only from a coming round of your contract that is still "
                "open and before its deadline, and after any change already approved."
            ),
        )
    before = in_force_one(membership, data.effective)
    if not data.share_type.active and data.share_type.id != before.share_type_id:
        raise FieldError("share_type", _("This share type is not offered any more."))
    if not data.site.active and data.site.id != before.site_id:
        raise FieldError("site", _("This pickup site is closed."))
    if before.same_terms(data.share_type.id, data.shares, data.site.id):
        raise FieldError(
            "share_type", _("These are the terms already in force then: nothing would change.")
        )
    if data.site.id != before.site_id:
        taken = places_taken_from(data.site, membership.season, data.effective, membership.id)
        if taken >= data.site.capacity:
            raise FieldError(
                "site",
                _(
                    "%(site)s is full from that round on (%(capacity)s places): choose another "
                    "site or a later round.",
                    site=data.site.name,
                    capacity=data.site.capacity,
                ),
            )
    return before


def pending_of(membership: Membership) -> MembershipChange | None:
    return db.session.scalar(
        select(MembershipChange).where(
            MembershipChange.membership_id == membership.id,
            MembershipChange.state == ChangeState.REQUESTED,
        )
    )


def _new_change(
    membership: Membership, data: ChangeData, user: User | None, state: ChangeState
) -> MembershipChange:
    change = MembershipChange(
        membership_id=membership.id,
        effective=data.effective,
        share_type_id=data.share_type.id,
        shares=data.shares,
        site_id=data.site.id,
        state=state,
        reason="",
        requested_by_id=user.id if user else None,
        requested_at=utcnow(),
    )
    if state == ChangeState.APPROVED:
        change.decided_by_id = user.id if user else None
        change.decided_at = change.requested_at
    db.session.add(change)
    db.session.flush()
    return change


def request_change(
    membership: Membership, data: ChangeData, user: User, today: date, now: datetime
) -> MembershipChange:
    """A member asks for new terms from a coming round; a coordinator decides. A request
    still waiting is withdrawn by the new one (one request waits at a time)."""
    check_change(membership, data, today, now)
    waiting = pending_of(membership)
    if waiting is not None:
        _decide(waiting, ChangeState.WITHDRAWN, None)
    return _new_change(membership, data, user, ChangeState.REQUESTED)


def enter_change(
    membership: Membership, data: ChangeData, user: User | None, today: date, now: datetime
) -> MembershipChange:
    """A coordinator enters a change: approved at once, by them (audited as decided_by), and
    the household is told."""
    check_change(membership, data, today, now)
    change = _new_change(membership, data, user, ChangeState.APPROVED)
    _tell(change)
    return change


def _decide(
    change: MembershipChange, state: ChangeState, user: User | None, reason: str = ""
) -> None:
    """Move a request out of 'requested' atomically: two coordinators deciding at once
    cannot both win, and a withdrawn request cannot be approved."""
    done = changed_rows(
        update(MembershipChange)
        .where(
            MembershipChange.id == change.id,
            MembershipChange.state == ChangeState.REQUESTED,
        )
        .values(
            state=state,
            reason=reason,
            decided_by_id=user.id if user else None,
            decided_at=utcnow(),
        )
    )
    if not done:
        raise Conflict(_("This request was decided or withdrawn meanwhile."))
    db.session.refresh(change)


def approve(change: MembershipChange, user: User, today: date, now: datetime) -> None:
    """Approve a request, checking its rules again (a round may have passed, a site filled)."""
    if change.state != ChangeState.REQUESTED:
        raise Conflict(_("This request was decided or withdrawn meanwhile."))
    data = ChangeData(change.effective, change.share_type, change.shares, change.site)
    check_change(change.membership, data, today, now)
    _decide(change, ChangeState.APPROVED, user)
    _tell(change)


def decline(change: MembershipChange, user: User, reason: str) -> None:
    """Decline a request with a reason the household is told."""
    reason = reason.strip()
    if not reason:
        raise FieldError("reason", _("Say why, so the member knows."))
    if len(reason) > NOTE_MAX:
        raise FieldError("reason", _("At most %(n)s characters.", n=NOTE_MAX))
    if change.state != ChangeState.REQUESTED:
        raise Conflict(_("This request was decided or withdrawn meanwhile."))
    _decide(change, ChangeState.DECLINED, user, reason)
    _tell(change)


def withdraw(change: MembershipChange) -> None:
    """The household takes back a request no one has decided yet."""
    if change.state != ChangeState.REQUESTED:
        raise Conflict(_("This request was decided or withdrawn meanwhile."))
    _decide(change, ChangeState.WITHDRAWN, None)


def _tell(change: MembershipChange) -> None:
    """E-mail the household the decision, each recipient in its own language."""
    membership = change.membership
    member = membership.member
    url = current_app.config["BASE_URL"].rstrip("/") + "/changes/"
    for to in household_recipients(member):
        with force_locale(to.locale):
            if change.state == ChangeState.APPROVED:
                subject = _("Your share changes from %(date)s", date=change.effective.isoformat())
            else:
                subject = _("Your change request was declined")
            body = render_template(
                "mail/change_decided.txt",
                change=change,
                member=member,
                approved=change.state == ChangeState.APPROVED,
                url=url,
            )
        mail.send(keyed(f"change/{change.id}/{change.state.value}", to), to.email, subject, body)
    db.session.flush()
