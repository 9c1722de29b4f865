"""The mails of member work, all through the outbox: the reminder before a job, the call for
help when a job or duty lacks people, and the notice of a cancelled job.

Each is sent once: the reminder claims its sign-up (`reminded_at`) and the call its job
(`called_at`) with a conditional UPDATE in the same transaction as the outbox rows, and the
outbox keys are unique besides. A second run, or a second process, finds them claimed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from csa.core.work import call_due, format_hours, reminder_due
from csa.extensions import changed_rows, db
from csa.models import Member, WorkJob, WorkSignup, WorkSignupState
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed, load_logins
from csa.rounds.lifecycle import farm_today
from csa.work import queries
from csa.work.operations import moment_of, read_settings

log = logging.getLogger(__name__)


def _farm_name() -> str:
    return str(current_app.config.get("FARM_NAME", ""))


def _url() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/work/mine"


def _send(
    member: Member, key: str, template: str, subject: str, job: WorkJob, **ctx: object
) -> int:
    """Queue one mail per reader of the household, each in its language."""
    sent = 0
    for to in household_recipients(member):
        with force_locale(to.locale):
            body = render_template(
                template, member=member, job=job, url=_url(), farm_name=_farm_name(), **ctx
            )
            if subject == "reminder":
                title = _("Reminder: %(title)s", title=job.title)
            elif subject == "call":
                title = _("Help wanted: %(title)s", title=job.title)
            else:
                title = _("Cancelled: %(title)s", title=job.title)
            row = mail.send(keyed(key, to), to.email, title, body)
        sent += row is not None
    return sent


def tell_cancelled(job: WorkJob, signups: list[WorkSignup]) -> int:
    """Tell each household signed up that the job is off (flushes)."""
    return sum(
        _send(
            s.membership.member,
            f"work/cancel/{job.id}/{s.membership_id}",
            "mail/work_cancelled.txt",
            "cancel",
            job,
        )
        for s in signups
    )


@dataclass
class NoticeRun:
    reminded: int = 0  # sign-ups reminded
    called: int = 0  # jobs that called for help

    def __str__(self) -> str:
        return f"work reminders: {self.reminded}, work calls: {self.called}"


def due_reminders(now: datetime, hours: int) -> list[int]:
    """Sign-ups not reminded of jobs (not cancelled) starting within `hours`."""
    rows = db.session.execute(
        select(WorkSignup.id, WorkJob)
        .join(WorkJob, WorkJob.id == WorkSignup.job_id)
        .where(
            WorkSignup.reminded_at.is_(None),
            WorkSignup.state == WorkSignupState.SIGNED,
            WorkJob.cancelled_at.is_(None),
            or_(
                WorkJob.starts_at.is_(None),
                WorkJob.starts_at <= now + timedelta(hours=hours),
            ),
        )
    ).all()
    return [sid for sid, job in rows if reminder_due(moment_of(job), now, hours)]


def remind(signup_id: int, now: datetime) -> bool:
    """Claim one sign-up's reminder and queue it (flushes); False if claimed already."""
    if not changed_rows(
        update(WorkSignup)
        .where(WorkSignup.id == signup_id, WorkSignup.reminded_at.is_(None))
        .values(reminded_at=now)
    ):
        return False
    signup = db.session.get(WorkSignup, signup_id)
    assert signup is not None  # noqa: S101 - just claimed
    _send(
        signup.membership.member,
        f"work/remind/{signup.job_id}/{signup.membership_id}",
        "mail/work_reminder.txt",
        "reminder",
        signup.job,
    )
    return True


def due_calls(now: datetime, days: int) -> list[int]:
    """Jobs (and duties) with free slots that have not called for help and fall due."""
    jobs = db.session.scalars(
        select(WorkJob).where(
            WorkJob.cancelled_at.is_(None),
            WorkJob.called_at.is_(None),
            WorkJob.taken < WorkJob.slots,
        )
    ).all()
    return [j.id for j in jobs if call_due(moment_of(j), now, days)]


def call(job_id: int, now: datetime) -> int:
    """Claim one job's call and mail the households that still owe hours and are not on it
    (duty: only those collecting at its site). Flushes; returns the households told."""
    if not changed_rows(
        update(WorkJob)
        .where(WorkJob.id == job_id, WorkJob.called_at.is_(None))
        .values(called_at=now)
    ):
        return 0
    job = db.session.get(WorkJob, job_id)
    assert job is not None  # noqa: S101 - just claimed
    on_it = {s.membership_id for s in job.signups}
    owing = [
        (m, ledger)
        for m, ledger in queries.owing_memberships(farm_today(now))
        if m.id not in on_it and (job.site_id is None or m.site_id == job.site_id)
    ]
    load_logins([m.member for m, _ledger in owing])
    for m, ledger in owing:
        _send(
            m.member,
            f"work/call/{job.id}/{m.id}",
            "mail/work_call.txt",
            "call",
            job,
            free=job.slots - job.taken,
            owed=format_hours(ledger.owed),
        )
    return len(owing)


def run(now: datetime) -> NoticeRun:
    """Every reminder and call due now, one commit each (a failure is rolled back, logged,
    and retried by the next run)."""
    result = NoticeRun()
    settings = read_settings()
    hours, days = settings.reminder_hours, settings.call_days_before
    todo_reminders = due_reminders(now, hours)
    todo_calls = due_calls(now, days) if days > 0 else []
    db.session.commit()
    for signup_id in todo_reminders:
        try:
            result.reminded += remind(signup_id, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("the reminder of work sign-up %s failed; retried next run", signup_id)
    for job_id in todo_calls:
        try:
            if call(job_id, now):
                result.called += 1
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("the call for help of work job %s failed; retried next run", job_id)
    return result
