"""Notices to members: what is in their share when a round locks, cancellations, a round
moved to another date, a site's new time window and holds a coordinator put for them.

Each message has a key (round, membership, kind), so a job that runs twice sends it once.
Each member reads it in their own language (force_locale).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, time
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from csa.changes.terms import InForce
from csa.core.clock import utcnow
from csa.extensions import db
from csa.models import (
    OPEN_STATES,
    HoldMode,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Round,
    RoundStatus,
    User,
)
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed, load_logins
from csa.rounds.split import RoundSplit, eligible_memberships, round_split, sites_serving


def share_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/share/"


def _tell_household(
    member: Member, key: str, subject: Callable[..., str], template: str, **context: Any
) -> int:
    """Queue one notice to each recipient of a household, each in its own language; return
    how many were queued now (a key queued before counts nothing).

    :param subject: called in the recipient's language, like the template.
    """
    sent = 0
    for to in household_recipients(member):
        with force_locale(to.locale):
            text = subject()
            body = render_template(template, member=member, share_url=share_url(), **context)
        if mail.send(keyed(key, to), to.email, text, body):
            sent += 1
    return sent


def notify_round(round_: Round, split: RoundSplit | None = None) -> int:
    """Send the notice a round's status calls for; return how many were sent now.

    :param split: the locked round's stored split if the caller read it already (the
        after-lock step reads it once for the sheets and the notices).
    """
    if round_.status == RoundStatus.CANCELLED:
        return _notify_cancelled(round_)
    if round_.is_locked:
        return _notify_locked(round_, split if split is not None else round_split(round_))
    return 0


def _notify_locked(round_: Round, split: RoundSplit) -> int:
    sent = 0
    load_logins(m.member for m in split.membership_list)
    for membership in split.membership_list:
        shares = [s for s in split.shares_of(membership.id) if s.quantity > 0]
        if not shares or any(s.donated for s in shares):
            continue  # away this round (donated): nothing to collect
        sent += _tell_household(
            membership.member,
            f"locked/{round_.id}/{membership.id}",
            lambda m=membership: _(
                "Your share for %(date)s at %(site)s",
                date=round_.date.isoformat(),
                site=m.site.name,
            ),
            "mail/round_locked.txt",
            round=round_,
            membership=membership,
            lines=[(split.crops[s.crop_id], s.quantity) for s in shares],
        )
        db.session.flush()
    return sent


def _notify_cancelled(round_: Round) -> int:
    sent = 0
    memberships = eligible_memberships(round_.date, sites_serving(round_.schedule_date))
    load_logins(m.member for m in memberships)
    for membership in memberships:
        sent += _tell_household(
            membership.member,
            f"cancelled/{round_.id}/{membership.id}",
            lambda: _("No pickup on %(date)s", date=round_.date.isoformat()),
            "mail/round_cancelled.txt",
            round=round_,
            membership=membership,
        )
    db.session.flush()
    return sent


def notify_moved(round_: Round, old_date: date) -> int:
    """Tell the households of a round moved from `old_date` to its new date; return the count.

    Called in the transaction of the move (csa/calendar/views.py), so the notice and the move
    are saved together. The key names the round and both dates: queued twice, it is sent
    once; a second move of the same round is a new notice.
    """
    sites = sites_serving(round_.schedule_date)
    told: dict[int, InForce] = {}
    for day in (old_date, round_.date):
        for membership in eligible_memberships(day, sites):
            told.setdefault(membership.id, membership)
    base = f"moved/{round_.id}/{old_date.isoformat()}/{round_.date.isoformat()}"
    load_logins(m.member for m in told.values())
    sent = 0
    for membership in sorted(told.values(), key=lambda m: m.id):
        sent += _tell_household(
            membership.member,
            f"{base}/{membership.id}",
            lambda: _(
                "Pickup moved from %(old)s to %(new)s",
                old=old_date.isoformat(),
                new=round_.date.isoformat(),
            ),
            "mail/round_moved.txt",
            round=round_,
            old_date=old_date,
            membership=membership,
        )
    db.session.flush()
    return sent


def notify_site_window(site: PickupSite, old_opens: time, old_closes: time, today: date) -> int:
    """Tell the households of a site with coming open rounds its new time window.

    Called in the transaction that changed the window (csa/setup/views.py); nothing is sent
    when the window did not change. The key names the site, the new window and the moment of
    the change, so each change is one notice per household.
    """
    if (site.opens, site.closes) == (old_opens, old_closes):
        return 0
    coming = [
        r
        for r in db.session.scalars(
            select(Round)
            .where(Round.date >= today, Round.status.in_(OPEN_STATES))
            .order_by(Round.date)
        )
        if site.serves(r.schedule_date)
    ]
    if not coming:
        return 0
    memberships = db.session.scalars(
        select(Membership).where(
            Membership.site_id == site.id,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.end >= coming[0].date,
            Membership.start <= coming[-1].date,
        )
    ).all()
    stamp = utcnow().strftime("%Y%m%d%H%M%S")
    window = f"{site.opens.strftime('%H%M')}-{site.closes.strftime('%H%M')}"
    load_logins(m.member for m in memberships)
    sent = 0
    for membership in sorted(memberships, key=lambda m: m.id):
        rounds = [r for r in coming if membership.start <= r.date <= membership.end]
        if not rounds:
            continue
        sent += _tell_household(
            membership.member,
            f"window/{site.id}/{window}/{stamp}/{membership.id}",
            lambda: _("New pickup times at %(site)s", site=site.name),
            "mail/site_window.txt",
            site=site,
            old_opens=old_opens,
            old_closes=old_closes,
            next_round=rounds[0],
        )
    db.session.flush()
    return sent


def notify_holds_by_staff(
    membership: Membership,
    rounds: Sequence[Round],
    mode: HoldMode | None,
    by: User | None,
    log_ids: Sequence[int],
) -> int:
    """Tell a household that a coordinator put holds for it (`mode`) or took them off (None).

    One message per recipient for the coordinator's whole action, whatever the number of
    rounds; the key names the first hold log row the action wrote.
    """
    if not rounds or not log_ids:
        return 0
    sent = _tell_household(
        membership.member,
        f"holds/{membership.id}/{min(log_ids)}",
        lambda: (
            _("Your share is on hold")
            if mode is not None
            else _("The holds on your share are cancelled")
        ),
        "mail/holds_by_staff.txt",
        rounds=rounds,
        mode=mode,
        by=by,
    )
    db.session.flush()
    return sent
