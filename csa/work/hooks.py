"""What member work adds to other features' pages, through their registries: site duty on the
pickup list and on My share, the household's jobs in its calendar feed, the message audience
of households that still owe hours, and bought-out hours on the next invoice."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime, time, timedelta

from flask import Flask, current_app, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from csa.calendar.extras import add_feed_events
from csa.calendar.ical import Event
from csa.changes.terms import InForce
from csa.community.audiences import Audience, add_audience
from csa.core.clock import local_to_utc, to_local
from csa.core.names import surname
from csa.core.work import format_hours
from csa.extensions import changed_rows, db
from csa.invoices.charges import Charge, add_charge_source
from csa.models import (
    Invoice,
    Member,
    Membership,
    Round,
    WorkBuyout,
    WorkSignup,
    WorkSignupState,
)
from csa.rounds.lifecycle import farm_today
from csa.share.notes import RoundNote, add_round_notes
from csa.sheets.annotations import Annotations, add_annotator
from csa.work import queries

AUDIENCE_KEY = "work_owing"


def register(app: Flask) -> None:
    add_annotator(app, duty_on_pickup_list)
    add_round_notes(app, duty_notes)
    add_feed_events(app, feed_events)
    add_audience(
        app,
        Audience(
            AUDIENCE_KEY,
            lambda: str(_l("Households that still owe work hours")),
            lambda: queries.owing_member_ids(farm_today()),
        ),
    )
    add_charge_source(app, buyout_charges)


def _names(job_signups: Sequence[WorkSignup]) -> list[str]:
    names = [s.membership.member.name for s in job_signups if s.state != WorkSignupState.MISSED]
    return sorted(names, key=lambda n: (surname(n), n))


def duty_on_pickup_list(
    round_: Round, site_ids: Collection[int], memberships: Mapping[int, InForce]
) -> Annotations:
    """ "Site duty: <names>" at the top of each site's list that has duty this round."""
    found = Annotations()
    for (_round_id, site_id), job in queries.duty_jobs([round_.id]).items():
        if site_id not in site_ids or job.cancelled_at is not None:
            continue
        names = _names(job.signups)
        text = (
            _("Site duty: %(names)s", names=", ".join(names))
            if names
            else _("Site duty: nobody has signed up yet")
        )
        found.site_notes.setdefault(site_id, []).append(text)
    return found


def duty_notes(membership: Membership, rounds: Sequence[Round]) -> dict[int, list[RoundNote]]:
    """On My share: the household's own duty, or a call when its site's duty lacks people."""
    notes: dict[int, list[RoundNote]] = {}
    duty = queries.duty_jobs([r.id for r in rounds])
    zone = str(current_app.config["TIMEZONE"])
    for r in rounds:
        job = duty.get((r.id, membership.site_id))
        if job is None or job.cancelled_at is not None or job.starts_at is None:
            continue
        mine = any(s.membership_id == membership.id for s in job.signups)
        starts = to_local(job.starts_at, zone).strftime("%H:%M")
        if mine:
            notes.setdefault(r.id, []).append(
                RoundNote(
                    _("You are on site duty this round, from %(time)s.", time=starts),
                    url_for("work.mine"),
                    _("Work days"),
                )
            )
        elif job.taken < job.slots:
            notes.setdefault(r.id, []).append(
                RoundNote(
                    _("Site duty this round still needs %(n)s more.", n=job.slots - job.taken),
                    url_for("work.mine"),
                    _("Sign up"),
                    "warning",
                )
            )
    return notes


def feed_events(member: Member, today: date) -> list[Event]:
    """The jobs the household signed up for, from today on; a flexible task on its due day."""
    zone = str(current_app.config["TIMEZONE"])
    since = local_to_utc(datetime.combine(today, time()), zone)
    events: list[Event] = []
    for signup in queries.household_signups(member, since):
        job = signup.job
        if job.starts_at is not None and job.ends_at is not None:
            start, end, summary = job.starts_at, job.ends_at, job.title
        else:
            if job.due_on is None or job.due_on < today:
                continue
            start = local_to_utc(datetime.combine(job.due_on, time(9)), zone)
            end = start + timedelta(hours=1)
            summary = _("Due: %(title)s", title=job.title)
        description = job.description
        if job.minutes:
            description = (
                _("%(hours)s hours", hours=format_hours(job.minutes)) + "\n" + description
            ).strip()
        events.append(
            Event(
                uid=f"work-{job.id}-{signup.membership_id}",
                start=start,
                end=end,
                summary=summary,
                location=job.place,
                description=description,
            )
        )
    return events


def buyout_charges(membership: Membership) -> list[Charge]:
    """The membership's bought-out hours not yet on an invoice, one line each."""
    rows = db.session.scalars(
        select(WorkBuyout)
        .where(WorkBuyout.membership_id == membership.id, WorkBuyout.invoice_id.is_(None))
        .order_by(WorkBuyout.id)
    ).all()
    with force_locale(membership.member.locale):
        return [
            Charge(
                _("Work hours bought out: %(hours)s h", hours=format_hours(row.minutes)),
                row.amount_cents,
                row.currency,
                _claimer(row.id),
            )
            for row in rows
        ]


def _claimer(buyout_id: int) -> Callable[[Invoice], bool]:
    def claim(invoice: Invoice) -> bool:
        return bool(
            changed_rows(
                update(WorkBuyout)
                .where(WorkBuyout.id == buyout_id, WorkBuyout.invoice_id.is_(None))
                .values(invoice_id=invoice.id)
            )
        )

    return claim
