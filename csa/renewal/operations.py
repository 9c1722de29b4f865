"""Renewals and trial shares: the scheduler's invitations, reminders and expiries, and the
member's answers. Everything here flushes only; the view, command or job commits once.

A pending (invited) renewal keeps its place at the chosen site in the next season: it
counts in csa/register/waiting.places_taken, so an expired or declined one gives the place
back to the waiting list without anything else to do. An answer first takes the renewal
out of pending (so its own reservation no longer counts), then creates or edits the next
season's membership through csa/register/operations.py, whose capacity check decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import aliased

from csa.core.clock import utcnow
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import (
    OCCUPYING,
    Allocation,
    Hold,
    Member,
    Membership,
    MembershipStatus,
    OptOut,
    PickupSite,
    Renewal,
    RenewalState,
    Season,
    ShareType,
)
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed
from csa.register import operations as register
from csa.register import waiting
from csa.renewal import rules
from csa.renewal.queries import next_season

log = logging.getLogger(__name__)
REASON_MAX = 300  # Renewal.decline_reason's width (NOTE_MAX); the form checks it too


def page_url() -> str:
    """The member's Next season page, for mails (no request to take the host from)."""
    return str(current_app.config["BASE_URL"]).rstrip("/") + "/renewal/"


@dataclass
class RenewalRun:
    """What one run of the renewal job did."""

    invited: int = 0
    reminded: int = 0
    expired: int = 0
    trials_ended: int = 0

    def __str__(self) -> str:
        return (
            f"renewals invited: {self.invited}, reminded: {self.reminded}, "
            f"expired: {self.expired}; trials ended: {self.trials_ended}"
        )


def _mail(
    member: Member, key: str, template: str, subject: Callable[[], str], **context: object
) -> int:
    """Queue one notice to each reader of a household, in each one's language."""
    sent = 0
    for to in household_recipients(member):
        with force_locale(to.locale):
            text = subject()
            body = render_template(template, member=member, page_url=page_url(), **context)
        if mail.send(keyed(key, to), to.email, text, body):
            sent += 1
    return sent


# Subjects, built in each recipient's language inside _mail.
def _invited_subject(season: str, deadline: str) -> str:
    return _(
        "Your share for %(season)s: please answer by %(deadline)s", season=season, deadline=deadline
    )


def _reminder_subject(season: str, deadline: str) -> str:
    return _(
        "Reminder: your share for %(season)s, please answer by %(deadline)s",
        season=season,
        deadline=deadline,
    )


def _trial_subject(day: str) -> str:
    return _("Your trial share ended on %(date)s", date=day)


# --- the scheduler's part ----------------------------------------------------------------


def run(today: date) -> RenewalRun:
    """Invite, remind, expire, and end undecided trials, as of the farm's `today`."""
    report = RenewalRun()
    report.invited = invite_due(today)
    report.reminded = remind_due(today)
    report.expired = expire_due(today)
    report.trials_ended = end_due_trials(today)
    return report


def invite_due(today: date) -> int:
    """Invite every running membership of each season whose invitation day has come.

    A membership is invited once per next season (the unique constraint, and the check
    before it), and not at all when its household has a membership in the next season.
    """
    config = current_app.config
    count = 0
    seasons = db.session.scalars(select(Season).where(Season.active.is_(True))).all()
    for season in seasons:
        first_day = rules.invitation_day(season.end, int(config["RENEWAL_WEEKS_BEFORE_END"]))
        if today < first_day:
            continue
        following = next_season(season)
        if following is None or today >= following.start:
            continue
        other = aliased(Membership)
        in_next = select(other.id).where(
            other.member_id == Membership.member_id, other.season_id == following.id
        )
        invited = select(Renewal.id).where(
            Renewal.membership_id == Membership.id, Renewal.next_season_id == following.id
        )
        due = db.session.scalars(
            select(Membership)
            .where(
                Membership.season_id == season.id,
                Membership.status.in_(OCCUPYING),
                Membership.end >= first_day,
                ~exists(in_next),
                ~exists(invited),
            )
            .order_by(Membership.id)
        ).all()
        deadline = rules.answer_deadline(today, int(config["RENEWAL_ANSWER_DAYS"]), following.start)
        for membership in due:
            renewal = Renewal(
                membership=membership,
                next_season=following,
                state=RenewalState.INVITED,
                share_type_id=membership.share_type_id,
                shares=membership.shares,
                site_id=membership.site_id,
                deadline=deadline,
                invited_at=utcnow(),
                decline_reason="",
            )
            db.session.add(renewal)
            db.session.flush()
            _mail(
                membership.member,
                f"renewal/{renewal.id}/invited",
                "mail/renewal_invited.txt",
                partial(_invited_subject, following.name, deadline.isoformat()),
                renewal=renewal,
                membership=membership,
            )
            count += 1
    db.session.flush()
    return count


def remind_due(today: date) -> int:
    """Remind once every pending renewal whose reminder day has come."""
    days = int(current_app.config["RENEWAL_REMINDER_DAYS_BEFORE_DEADLINE"])
    pending = db.session.scalars(
        select(Renewal)
        .where(Renewal.state == RenewalState.INVITED, Renewal.reminded_at.is_(None))
        .order_by(Renewal.id)
    ).all()
    count = 0
    for renewal in pending:
        if not rules.reminder_day(renewal.deadline, days) <= today <= renewal.deadline:
            continue
        _mail(
            renewal.membership.member,
            f"renewal/{renewal.id}/reminder",
            "mail/renewal_reminder.txt",
            partial(_reminder_subject, renewal.next_season.name, renewal.deadline.isoformat()),
            renewal=renewal,
            membership=renewal.membership,
        )
        renewal.reminded_at = utcnow()
        count += 1
    db.session.flush()
    return count


def expire_due(today: date) -> int:
    """Mark every pending renewal past its deadline expired: its place is free again."""
    late = db.session.scalars(
        select(Renewal).where(Renewal.state == RenewalState.INVITED, Renewal.deadline < today)
    ).all()
    for renewal in late:
        renewal.state = RenewalState.EXPIRED
    db.session.flush()
    return len(late)


# --- the member's answer -----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The terms a member chooses for the next season."""

    share_type: ShareType
    shares: int
    site: PickupSite


def preselected(renewal: Renewal) -> Choice:
    """The terms of the membership being renewed: what "accept" keeps."""
    m = renewal.membership
    return Choice(m.share_type, m.shares, m.site)


def is_open(renewal: Renewal, today: date) -> bool:
    """True while the member may answer (or answer again): until the deadline, and never
    once the next season has started (the deadline is before its first day anyway)."""
    return (
        renewal.state != RenewalState.EXPIRED
        and today <= renewal.deadline
        and today < renewal.next_season.start
    )


def _check_open(renewal: Renewal, today: date) -> None:
    if not is_open(renewal, today):
        raise ValidationFailed(
            _(
                "Answers for %(season)s closed on %(date)s; write to the farm if you "
                "still want a share.",
                season=renewal.next_season.name,
                date=renewal.deadline.isoformat(),
            )
        )


def answer(renewal: Renewal, choice: Choice | None, today: date) -> Membership:
    """Accept (no choice, or the preselected terms) or change; return the next season's
    membership, created now or, on a second answer, edited to the new terms."""
    _check_open(renewal, today)
    kept = preselected(renewal)
    choice = choice or kept
    if choice.shares < 1:
        raise FieldError("shares", _("The number of shares must be at least 1."))
    if not choice.share_type.active and choice.share_type.id != kept.share_type.id:
        raise FieldError("share_type", _("This share type is not offered any more."))
    if not choice.site.active and choice.site.id != kept.site.id:
        raise FieldError("site", _("This pickup site is not open any more."))
    renewal.state = (
        RenewalState.ACCEPTED
        if (choice.share_type.id, choice.shares, choice.site.id)
        == (kept.share_type.id, kept.shares, kept.site.id)
        else RenewalState.CHANGED
    )
    renewal.share_type_id = choice.share_type.id
    renewal.shares = choice.shares
    renewal.site_id = choice.site.id
    renewal.answered_at = utcnow()
    renewal.decline_reason = ""
    db.session.flush()  # no longer pending: its own reservation stops counting
    season = renewal.next_season
    existing = renewal.new_membership
    own_place = int(
        existing is not None and existing.site_id == choice.site.id and existing.status in OCCUPYING
    )
    free = waiting.free_places(choice.site, season) + own_place
    if free <= 0 and choice.site.id != kept.site.id:
        raise FieldError(
            "site",
            _(
                "%(site)s has no free place in %(season)s. Choose another site, or keep your own.",
                site=choice.site.name,
                season=season.name,
            ),
        )
    try:
        if existing is None:
            membership = register.create_membership(
                renewal.membership.member,
                register.MembershipData(
                    season=season,
                    share_type=choice.share_type,
                    site=choice.site,
                    shares=choice.shares,
                ),
            )
            renewal.new_membership = membership
        else:
            register.update_membership(
                existing,
                register.MembershipData(
                    season=season,
                    share_type=choice.share_type,
                    site=choice.site,
                    shares=choice.shares,
                    start=existing.start,
                    end=existing.end,
                    status=existing.status,
                    trial_end=existing.trial_end,
                ),
            )
            membership = existing
    except FieldError as exc:
        # The register names its own fields; on this page the site and the whole form.
        if exc.field in ("status", "site"):
            raise FieldError("site", str(exc)) from exc
        raise ValidationFailed(str(exc)) from exc
    db.session.flush()
    return membership


def decline(renewal: Renewal, reason: str, today: date) -> None:
    """Say no for the next season; a membership created by an earlier answer is removed
    (the next season has not started, so it has no history yet)."""
    _check_open(renewal, today)
    reason = " ".join(reason.split())
    if len(reason) > REASON_MAX:
        raise FieldError("reason", _("Write at most %(count)s characters.", count=REASON_MAX))
    created = renewal.new_membership
    if created is not None:
        if db.session.scalar(select(Allocation.id).where(Allocation.membership_id == created.id)):
            raise ValidationFailed(
                _(
                    "Your share for %(season)s has started; write to the farm.",
                    season=renewal.next_season.name,
                )
            )
        renewal.new_membership = None
        db.session.flush()
        db.session.execute(delete(Hold).where(Hold.membership_id == created.id))
        db.session.execute(delete(OptOut).where(OptOut.membership_id == created.id))
        db.session.delete(created)
    renewal.state = RenewalState.DECLINED
    renewal.decline_reason = reason
    renewal.answered_at = utcnow()
    db.session.flush()


# --- trial shares ------------------------------------------------------------------------


def _check_trial(membership: Membership, today: date) -> date:
    trial_end = membership.trial_end
    if (
        trial_end is None
        or not rules.trial_undecided(trial_end, membership.end)
        or membership.status not in OCCUPYING
    ):
        raise ValidationFailed(_("This share has no trial waiting for your decision."))
    if today > trial_end:
        raise ValidationFailed(
            _("Your trial ended on %(date)s; write to the farm.", date=trial_end.isoformat())
        )
    return trial_end


def join_after_trial(membership: Membership, today: date) -> None:
    """Stay for the season: the trial is over, the membership runs to its end."""
    _check_trial(membership, today)
    membership.trial_end = None
    db.session.flush()


def leave_after_trial(membership: Membership, today: date) -> None:
    """Leave after the trial: the membership ends on the trial's last day."""
    membership.end = _check_trial(membership, today)
    db.session.flush()


def end_due_trials(today: date) -> int:
    """End the memberships of trials over before today; an undecided one ends at its trial's
    end and the household is told. Return how many undecided trials were ended."""
    over = db.session.scalars(
        select(Membership)
        .where(
            Membership.trial_end.is_not(None),
            Membership.trial_end < today,
            Membership.status.in_(OCCUPYING),
        )
        .order_by(Membership.id)
    ).all()
    count = 0
    for membership in over:
        assert membership.trial_end is not None
        if rules.trial_undecided(membership.trial_end, membership.end):
            membership.end = membership.trial_end
            _mail(
                membership.member,
                f"trial/{membership.id}/ended",
                "mail/trial_ended.txt",
                partial(_trial_subject, membership.trial_end.isoformat()),
                membership=membership,
            )
            count += 1
        membership.status = MembershipStatus.ENDED
    db.session.flush()
    return count
