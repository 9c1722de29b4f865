"""Notices to members: what is in their share when a round locks, and cancellations.

Each message has a key (round, membership, kind), so a job that runs twice sends it once.
Each member reads it in their own language (force_locale).
"""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from csa.extensions import db
from csa.models import Round, RoundStatus
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed, load_logins
from csa.rounds.split import RoundSplit, eligible_memberships, round_split, sites_serving


def share_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/share/"


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
        member = membership.member
        lines = [(split.crops[s.crop_id], s.quantity) for s in shares]
        for to in household_recipients(member):
            with force_locale(to.locale):
                subject = _(
                    "Your share for %(date)s at %(site)s",
                    date=round_.date.isoformat(),
                    site=membership.site.name,
                )
                body = render_template(
                    "mail/round_locked.txt",
                    round=round_,
                    member=member,
                    membership=membership,
                    lines=lines,
                    share_url=share_url(),
                )
            if mail.send(keyed(f"locked/{round_.id}/{membership.id}", to), to.email, subject, body):
                sent += 1
        db.session.flush()
    return sent


def _notify_cancelled(round_: Round) -> int:
    sent = 0
    memberships = eligible_memberships(round_.date, sites_serving(round_.schedule_date))
    load_logins(m.member for m in memberships)
    for membership in memberships:
        member = membership.member
        for to in household_recipients(member):
            with force_locale(to.locale):
                subject = _("No pickup on %(date)s", date=round_.date.isoformat())
                body = render_template(
                    "mail/round_cancelled.txt",
                    round=round_,
                    member=member,
                    membership=membership,
                    share_url=share_url(),
                )
            key = keyed(f"cancelled/{round_.id}/{membership.id}", to)
            if mail.send(key, to.email, subject, body):
                sent += 1
    db.session.flush()
    return sent
