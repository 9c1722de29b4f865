"""Every write of member work: jobs and site duty, sign-ups, attendance, transfers and
buy-outs of hours, the farm's settings. Each function flushes; the view or job commits.

A sign-up takes a slot with one conditional UPDATE (`taken < slots`): two households taking
the last slot at once cannot both win, whatever the database; the loser's UPDATE changes no
row and it is refused before anything is written. The unique (job, membership) constraint
keeps a household from holding two places on one job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from csa.core.clock import local_to_utc, utcnow
from csa.core.work import (
    LedgerError,
    buyout_cents,
    check_buyout,
    check_transfer,
    format_hours,
)
from csa.errors import FieldError, NotFound, ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    Member,
    Membership,
    PickupSite,
    Round,
    RoundStatus,
    User,
    WorkBuyout,
    WorkJob,
    WorkRequirement,
    WorkSettings,
    WorkSignup,
    WorkSignupState,
    WorkTransfer,
)
from csa.sheets.annotations import request_refresh
from csa.work.queries import ledger_of


def work_settings() -> WorkSettings:
    """The farm's one settings row, created with the defaults on first use (flushes)."""
    row = db.session.scalar(select(WorkSettings).order_by(WorkSettings.id).limit(1))
    if row is None:
        row = WorkSettings(
            buyout_rate_cents=0, currency="EUR", call_days_before=5, reminder_hours=48
        )
        db.session.add(row)
        db.session.flush()
    return row


def read_settings() -> WorkSettings:
    """The settings row, or the defaults unsaved: a page that only reads writes nothing."""
    row = db.session.scalar(select(WorkSettings).order_by(WorkSettings.id).limit(1))
    return row or WorkSettings(
        buyout_rate_cents=0, currency="EUR", call_days_before=5, reminder_hours=48
    )


def save_settings(
    *, rate_cents: int, currency: str, call_days: int, requirements: dict[int, int]
) -> WorkSettings:
    """Set the buy-out rate, the call-for-help days and the minutes each share type needs."""
    row = work_settings()
    row.buyout_rate_cents = rate_cents
    row.currency = currency.upper()
    row.call_days_before = call_days
    for share_type_id, minutes in requirements.items():
        found = db.session.get(WorkRequirement, share_type_id)
        if found is None:
            db.session.add(WorkRequirement(share_type_id=share_type_id, minutes=minutes))
        else:
            found.minutes = minutes
    db.session.flush()
    return row


def _zone() -> str:
    return str(current_app.config["TIMEZONE"])


def local_moment(day: date, at: time) -> datetime:
    """A farm-time day and hour as the naive UTC the columns store."""
    return local_to_utc(datetime.combine(day, at), _zone())


def deadline_of(job: WorkJob) -> datetime:
    """Sign-ups and cancellations close here (UTC): the job's own deadline, else its start,
    else the start of its due day."""
    if job.signup_deadline is not None:
        return job.signup_deadline
    if job.starts_at is not None:
        return job.starts_at
    assert job.due_on is not None  # noqa: S101 - the table's "when" check guarantees it
    return local_moment(job.due_on, time(0, 0))


def moment_of(job: WorkJob) -> datetime:
    """When the job happens (UTC): its start, or the start of a flexible task's due day."""
    return job.starts_at if job.starts_at is not None else deadline_of(job)


def job_day(job: WorkJob) -> date:
    from csa.core.clock import to_local

    if job.starts_at is not None:
        return to_local(job.starts_at, _zone()).date()
    assert job.due_on is not None  # noqa: S101 - the table's "when" check guarantees it
    return job.due_on


@dataclass
class JobData:
    """What the job form says, already parsed (csa/work/forms.py)."""

    title: str
    description: str
    place: str
    slots: int
    minutes: int
    flexible: bool
    day: date | None
    starts: time | None
    ends: time | None
    due_on: date | None
    deadline: datetime | None  # UTC


def _apply(job: WorkJob, data: JobData) -> None:
    if not data.title.strip():
        raise FieldError("title", _("Give the job a title."))
    if data.flexible:
        if data.due_on is None:
            raise FieldError("due_on", _("A flexible task needs a due date."))
        job.starts_at = job.ends_at = None
        job.due_on = data.due_on
    else:
        if data.day is None or data.starts is None or data.ends is None:
            raise FieldError("day", _("Give the day and the hours of the job."))
        if data.ends <= data.starts:
            raise FieldError("ends", _("The job must end after it starts."))
        job.starts_at = local_moment(data.day, data.starts)
        job.ends_at = local_moment(data.day, data.ends)
        job.due_on = None
    if data.slots < job.taken:
        raise FieldError(
            "slots",
            _("%(n)s households have signed up: keep at least that many slots.", n=job.taken),
        )
    job.title = data.title.strip()
    job.description = data.description
    job.place = data.place
    job.slots = data.slots
    job.minutes = data.minutes
    job.signup_deadline = data.deadline
    if data.deadline is not None and data.deadline > moment_of(job):
        raise FieldError("deadline", _("The sign-up deadline must be before the job."))


def create_job(data: JobData, by: User) -> WorkJob:
    job = WorkJob(taken=0, created_by_id=by.id)
    _apply(job, data)
    db.session.add(job)
    db.session.flush()
    return job


def update_job(job: WorkJob, data: JobData) -> WorkJob:
    if job.cancelled_at is not None:
        raise ValidationFailed(_("This job was cancelled; it cannot be changed."))
    _apply(job, data)
    db.session.flush()
    _refresh(job)
    return job


def cancel_job(job: WorkJob, now: datetime | None = None) -> list[WorkSignup]:
    """Cancel a job; return the sign-ups to tell (the view queues their notices)."""
    now = now or utcnow()
    moved = changed_rows(
        update(WorkJob)
        .where(WorkJob.id == job.id, WorkJob.cancelled_at.is_(None))
        .values(cancelled_at=now)
    )
    if not moved:
        raise ValidationFailed(_("This job was already cancelled."))
    db.session.refresh(job)
    _refresh(job)
    return [s for s in job.signups if s.state == WorkSignupState.SIGNED]


def add_duty(round_: Round, site: PickupSite, by: User, slots: int = 1) -> WorkJob:
    """Site duty for one round and site: open the depot and hand out, from opening to close."""
    if round_.status == RoundStatus.CANCELLED:
        raise ValidationFailed(_("That round was cancelled."))
    if not site.serves(round_.schedule_date):
        raise ValidationFailed(_("That site does not hand out shares in this round."))
    exists = db.session.scalar(
        select(WorkJob.id).where(WorkJob.round_id == round_.id, WorkJob.site_id == site.id)
    )
    if exists is not None:
        raise ValidationFailed(_("This round already has site duty at %(site)s.", site=site.name))
    starts, ends = local_moment(round_.date, site.opens), local_moment(round_.date, site.closes)
    if ends <= starts:
        raise ValidationFailed(_("The site's hours are empty; set them in the farm setup first."))
    job = WorkJob(
        title=_("Site duty at %(site)s", site=site.name)[:120],
        description=_("Open the depot and hand out the shares."),
        place=(site.address or site.name)[:200],
        starts_at=starts,
        ends_at=ends,
        slots=slots,
        taken=0,
        minutes=int((ends - starts).total_seconds() // 60),
        round_id=round_.id,
        site_id=site.id,
        created_by_id=by.id,
    )
    db.session.add(job)
    db.session.flush()
    return job


def _refresh(job: WorkJob) -> None:
    """A locked round's pickup lists print the duty: ask for them to be made again."""
    if job.round is not None:
        request_refresh(job.round)


def _open_for_signup(job: WorkJob, now: datetime) -> None:
    if job.cancelled_at is not None:
        raise ValidationFailed(_("This job was cancelled."))
    if now >= deadline_of(job):
        raise ValidationFailed(_("The sign-up for this job has closed."))


def membership_for_job(member: Member, job: WorkJob) -> Membership | None:
    """The household's membership whose contract covers the job's day."""
    day = job_day(job)
    return db.session.scalar(
        select(Membership)
        .where(Membership.member_id == member.id, Membership.start <= day, Membership.end >= day)
        .order_by(Membership.start.desc())
        .limit(1)
    )


def sign_up(job: WorkJob, membership: Membership, by: User, now: datetime | None = None) -> None:
    """Take one slot of a job for a household: refused, with nothing written, when the job is
    full, closed, cancelled, or the household already holds a place on it."""
    now = now or utcnow()
    _open_for_signup(job, now)
    if job.site_id is not None and membership.site_id != job.site_id:
        raise ValidationFailed(_("Site duty is for the households who collect at that site."))
    mine = db.session.scalar(
        select(WorkSignup.id).where(
            WorkSignup.job_id == job.id, WorkSignup.membership_id == membership.id
        )
    )
    if mine is not None:
        raise ValidationFailed(_("You have already signed up for this job."))
    taken = changed_rows(
        update(WorkJob)
        .where(
            WorkJob.id == job.id,
            WorkJob.taken < WorkJob.slots,
            WorkJob.cancelled_at.is_(None),
        )
        .values(taken=WorkJob.taken + 1)
    )
    if not taken:
        raise ValidationFailed(_("This job is full: every slot has been taken."))
    try:
        with db.session.begin_nested():
            db.session.add(
                WorkSignup(
                    job_id=job.id,
                    membership_id=membership.id,
                    user_id=by.id,
                    state=WorkSignupState.SIGNED,
                    minutes=0,
                )
            )
    except IntegrityError:
        raise ValidationFailed(_("You have already signed up for this job.")) from None
    db.session.refresh(job)
    _refresh(job)


def cancel_signup(job: WorkJob, membership: Membership, now: datetime | None = None) -> None:
    """Give a slot back, before the deadline; a confirmed one stays (its hours count)."""
    now = now or utcnow()
    signup = db.session.scalar(
        select(WorkSignup).where(
            WorkSignup.job_id == job.id, WorkSignup.membership_id == membership.id
        )
    )
    if signup is None:
        raise NotFound(_("You are not signed up for this job."))
    if signup.state != WorkSignupState.SIGNED:
        raise ValidationFailed(_("Your attendance was already recorded; it cannot be cancelled."))
    if now >= deadline_of(job):
        raise ValidationFailed(
            _("The deadline to cancel has passed. Please tell the farm if you cannot come.")
        )
    db.session.delete(signup)
    db.session.flush()
    changed_rows(
        update(WorkJob)
        .where(WorkJob.id == job.id, WorkJob.taken > 0)
        .values(taken=WorkJob.taken - 1)
    )
    db.session.refresh(job)
    _refresh(job)


def confirm(signup: WorkSignup, *, came: bool, minutes: int, by: User) -> None:
    """Record attendance: the hours count in the ledger only once confirmed."""
    if signup.job.cancelled_at is not None:
        raise ValidationFailed(_("This job was cancelled."))
    signup.state = WorkSignupState.DONE if came else WorkSignupState.MISSED
    signup.minutes = minutes if came else 0
    signup.confirmed_by_id = by.id
    db.session.flush()
    _refresh(signup.job)  # a household that did not come leaves the printed duty


def _one_at_a_time() -> WorkSettings:
    """Take the settings row's write lock before reading a ledger to change it: two transfers
    or buy-outs of one household at once run one after the other, so neither gives or buys
    more than the ledger the other left (a row lock on PostgreSQL, the write lock on SQLite).
    """
    row = work_settings()
    changed_rows(update(WorkSettings).where(WorkSettings.id == row.id).values(id=WorkSettings.id))
    return row


def give_hours(membership: Membership, email: str, minutes: int, by: User) -> WorkTransfer:
    """Give worked hours beyond the requirement to another household of the same season."""
    address = email.strip().lower()
    target = db.session.scalar(
        select(Membership)
        .join(Member, Member.id == Membership.member_id)
        .where(func.lower(Member.email) == address, Membership.season_id == membership.season_id)
        .limit(1)
    )
    if target is None:
        raise FieldError(
            "email", _("No household with that e-mail address has a share this season.")
        )
    if target.id == membership.id:
        raise FieldError("email", _("You cannot give hours to your own household."))
    _one_at_a_time()
    ledger = ledger_of(membership)
    try:
        check_transfer(ledger, minutes)
    except LedgerError:
        raise FieldError(
            "hours",
            _(
                "You can give at most %(hours)s hours: what you worked beyond your own.",
                hours=format_hours(ledger.surplus),
            ),
        ) from None
    transfer = WorkTransfer(
        from_membership_id=membership.id, to_membership_id=target.id, minutes=minutes, by_id=by.id
    )
    db.session.add(transfer)
    db.session.flush()
    return transfer


def buy_out(membership: Membership, minutes: int, by: User) -> WorkBuyout:
    """Buy out hours still owed at the farm's rate: a charge on the next invoice."""
    settings = _one_at_a_time()
    if settings.buyout_rate_cents <= 0:
        raise ValidationFailed(_("The farm does not offer buying out hours."))
    ledger = ledger_of(membership)
    try:
        check_buyout(ledger, minutes)
    except LedgerError:
        raise FieldError(
            "hours",
            _("You can buy out at most %(hours)s hours.", hours=format_hours(ledger.owed)),
        ) from None
    row = WorkBuyout(
        membership_id=membership.id,
        minutes=minutes,
        rate_cents=settings.buyout_rate_cents,
        amount_cents=buyout_cents(minutes, settings.buyout_rate_cents),
        currency=settings.currency,
        by_id=by.id,
    )
    db.session.add(row)
    db.session.flush()
    return row


def coming_duty_rounds(today: date, count: int = 6) -> list[Round]:
    return list(
        db.session.scalars(
            select(Round)
            .where(Round.date >= today, Round.status != RoundStatus.CANCELLED)
            .order_by(Round.date)
            .limit(count)
        )
    )
