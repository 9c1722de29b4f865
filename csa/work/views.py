"""Work days and site duty: the farm's desk (`work.index`, farmers and coordinators: jobs,
attendance, site duty for the coming rounds, settings) and the member's page (`work.mine`:
open jobs, its own, the hours ledger, giving and buying out hours)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from csa.core.clock import to_local, utcnow
from csa.core.work import format_hours
from csa.errors import NotFound, ValidationFailed
from csa.extensions import db
from csa.models import (
    Member,
    Membership,
    PickupSite,
    Role,
    Round,
    ShareType,
    WorkJob,
    WorkRequirement,
    WorkSignup,
)
from csa.rounds.lifecycle import farm_today
from csa.share.queries import current_membership
from csa.ui.access import FIELD, STAFF, roles
from csa.ui.formatting import format_clock, format_price
from csa.ui.forms import EmptyForm, flash_errors, refuse
from csa.work import notices, operations, queries
from csa.work import privacy as _privacy  # noqa: F401 - registers the download's work files
from csa.work.forms import (
    BuyoutForm,
    ConfirmForm,
    GiveForm,
    JobForm,
    RequirementForm,
    SettingsForm,
)
from csa.work.hooks import register

bp = Blueprint("work", __name__)


@bp.record_once
def _register(state: BlueprintSetupState) -> None:
    register(cast(Flask, state.app))


@bp.context_processor
def _helpers() -> dict[str, object]:
    def clock(moment: datetime | None) -> str:
        return format_clock(to_local(moment, _zone()).time()) if moment is not None else ""

    return {"clock": clock}


def _zone() -> str:
    return str(current_app.config["TIMEZONE"])


def _expired() -> None:
    flash(_("The form had expired; nothing was changed. Please try again."), "error")


# --- the farm's desk -------------------------------------------------------------------------


@bp.route("/")
@roles(*FIELD)
def index() -> ResponseReturnValue:
    """Jobs to come and just past (to confirm who came), and site duty of the coming rounds."""
    now = utcnow()
    jobs = [j for j in queries.staff_jobs(now - timedelta(days=30)) if not j.is_duty]
    rounds = operations.coming_duty_rounds(farm_today())
    sites = list(
        db.session.scalars(
            select(PickupSite).where(PickupSite.active.is_(True)).order_by(PickupSite.name)
        )
    )
    duty = queries.duty_jobs([r.id for r in rounds])
    grid = [
        (r, [(s, duty.get((r.id, s.id))) for s in sites if s.serves(r.schedule_date)])
        for r in rounds
    ]
    return render_template(
        "work/index.html",
        section="work",
        jobs=jobs,
        grid=grid,
        now=now,
        deadline_of=operations.deadline_of,
        button=EmptyForm(),
    )


@bp.route("/hours")
@roles(*FIELD)
def hours() -> ResponseReturnValue:
    """Every household in force today with its hours: required, worked, given, bought, owed."""
    today = farm_today()
    found = queries.memberships_on(today)
    books = queries.ledgers(found)
    rows = sorted(
        ((m, books[m.id]) for m in found), key=lambda row: (-row[1].owed, row[0].member.surname)
    )
    owed = sum(ledger.owed for _m, ledger in rows)
    return render_template(
        "work/hours.html",
        section="work",
        rows=rows,
        owed=owed,
        today=today,
        format_hours=format_hours,
    )


def _job_data(form: JobForm) -> operations.JobData:
    deadline = None
    if form.deadline_day.data is not None:
        at = form.deadline_time.data or datetime.min.time()
        deadline = operations.local_moment(form.deadline_day.data, at)
    assert form.hours.minutes is not None  # noqa: S101 - validated
    return operations.JobData(
        title=form.title.data or "",
        description=form.description.data or "",
        place=form.place.data or "",
        slots=int(form.slots.data or 0),
        minutes=form.hours.minutes,
        flexible=bool(form.flexible.data),
        day=form.day.data,
        starts=form.starts.data,
        ends=form.ends.data,
        due_on=form.due_on.data,
        deadline=deadline,
    )


def _fill(form: JobForm, job: WorkJob) -> None:
    zone = _zone()
    form.title.data = job.title
    form.description.data = job.description
    form.place.data = job.place
    form.slots.data = job.slots
    form.hours.data = format_hours(job.minutes)
    form.flexible.data = job.starts_at is None
    if job.starts_at is not None and job.ends_at is not None:
        form.day.data = to_local(job.starts_at, zone).date()
        form.starts.data = to_local(job.starts_at, zone).time()
        form.ends.data = to_local(job.ends_at, zone).time()
    form.due_on.data = job.due_on
    if job.signup_deadline is not None:
        local = to_local(job.signup_deadline, zone)
        form.deadline_day.data, form.deadline_time.data = local.date(), local.time()


@bp.route("/jobs/new", methods=["GET", "POST"])
@roles(*FIELD)
def create() -> ResponseReturnValue:
    form = JobForm()
    if form.validate_on_submit():
        try:
            job = operations.create_job(_job_data(form), current_user)
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("The job %(title)s is posted.", title=job.title), "success")
            return redirect(url_for("work.job", work_job_id=job.id)), 303
    elif form.is_submitted():
        flash_errors(form)
    status = 400 if form.is_submitted() else 200
    return render_template("work/edit.html", section="work", form=form, job=None), status


@bp.route("/jobs/<int:work_job_id>")
@roles(*FIELD)
def job(work_job_id: int) -> ResponseReturnValue:
    found = db.get_or_404(WorkJob, work_job_id)
    return render_template(
        "work/job.html",
        section="work",
        job=found,
        signups=queries.job_signups(found),
        deadline=operations.deadline_of(found),
        confirm_form=ConfirmForm(formdata=None, hours=format_hours(found.minutes)),
        format_hours=format_hours,
        button=EmptyForm(),
    )


@bp.route("/jobs/<int:work_job_id>/edit", methods=["GET", "POST"])
@roles(*FIELD)
def edit(work_job_id: int) -> ResponseReturnValue:
    found = db.get_or_404(WorkJob, work_job_id)
    form = JobForm()
    if form.validate_on_submit():
        try:
            operations.update_job(found, _job_data(form))
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("The job %(title)s is saved.", title=found.title), "success")
            return redirect(url_for("work.job", work_job_id=found.id)), 303
    elif form.is_submitted():
        flash_errors(form)
    else:
        _fill(form, found)
    status = 400 if form.is_submitted() else 200
    return render_template("work/edit.html", section="work", form=form, job=found), status


@bp.route("/jobs/<int:work_job_id>/cancel", methods=["POST"])
@roles(*FIELD)
def cancel_job(work_job_id: int) -> ResponseReturnValue:
    found = db.get_or_404(WorkJob, work_job_id)
    if not EmptyForm().validate_on_submit():
        _expired()
        return redirect(url_for("work.job", work_job_id=found.id)), 303
    try:
        told = operations.cancel_job(found)
        notices.tell_cancelled(found, told)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("work.job", work_job_id=found.id)), 303
    db.session.commit()
    flash(
        _("The job %(title)s is cancelled; the households signed up are told.", title=found.title),
        "success",
    )
    return redirect(url_for("work.index")), 303


@bp.route("/signups/<int:work_signup_id>/confirm", methods=["POST"])
@roles(*FIELD)
def confirm(work_signup_id: int) -> ResponseReturnValue:
    signup = db.get_or_404(WorkSignup, work_signup_id)
    form = ConfirmForm()
    back = redirect(url_for("work.job", work_job_id=signup.job_id)), 303
    if not form.validate_on_submit():
        flash_errors(form)
        return back
    try:
        operations.confirm(
            signup, came=form.came.data == "yes", minutes=form.hours.minutes or 0, by=current_user
        )
    except ValidationFailed as exc:
        refuse(None, exc)
        return back
    db.session.commit()
    flash(_("Attendance of %(name)s recorded.", name=signup.membership.member.name), "success")
    return back


@bp.route("/duty/<int:round_id>/<int:site_id>", methods=["POST"])
@roles(*FIELD)
def add_duty(round_id: int, site_id: int) -> ResponseReturnValue:
    round_ = db.get_or_404(Round, round_id)
    site = db.get_or_404(PickupSite, site_id)
    if not EmptyForm().validate_on_submit():
        _expired()
        return redirect(url_for("work.index")), 303
    try:
        duty = operations.add_duty(round_, site, current_user)
        db.session.commit()
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("work.index")), 303
    except IntegrityError:
        db.session.rollback()
        flash(_("This round already has site duty at %(site)s.", site=site.name), "error")
        return redirect(url_for("work.index")), 303
    flash(_("Site duty added: %(title)s.", title=duty.title), "success")
    return redirect(url_for("work.index")), 303


def _settings_page(form: SettingsForm | None = None, status: int = 200) -> ResponseReturnValue:
    settings = operations.read_settings()
    if form is None:
        form = SettingsForm(
            formdata=None,
            rate=settings.buyout_rate_cents,
            currency=settings.currency,
            call_days=settings.call_days_before,
        )
    share_types = list(db.session.scalars(select(ShareType).order_by(ShareType.name)))
    required = dict(
        db.session.execute(select(WorkRequirement.share_type_id, WorkRequirement.minutes)).all()
    )
    rows = [
        (st, RequirementForm(formdata=None, hours=format_hours(required.get(st.id, 0))))
        for st in share_types
    ]
    return render_template("work/settings.html", section="work", form=form, rows=rows), status


@bp.route("/settings", methods=["GET", "POST"])
@roles(*STAFF)
def settings() -> ResponseReturnValue:
    """The buy-out rate and when understaffed jobs call for help."""
    form = SettingsForm()
    if not form.is_submitted():
        return _settings_page()
    if not form.validate_on_submit():
        flash_errors(form)
        return _settings_page(form, 400)
    operations.save_settings(
        rate_cents=form.rate.data or 0,
        currency=form.currency.data or "EUR",
        call_days=int(form.call_days.data or 0),
        requirements={},
    )
    db.session.commit()
    flash(_("The work settings are saved."), "success")
    return redirect(url_for("work.settings")), 303


@bp.route("/settings/share-types/<int:work_share_type_id>", methods=["POST"])
@roles(*STAFF)
def requirement(work_share_type_id: int) -> ResponseReturnValue:
    """The hours one share type requires per share and season."""
    share_type = db.get_or_404(ShareType, work_share_type_id)
    form = RequirementForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("work.settings")), 303
    settings = operations.work_settings()
    operations.save_settings(
        rate_cents=settings.buyout_rate_cents,
        currency=settings.currency,
        call_days=settings.call_days_before,
        requirements={share_type.id: form.hours.minutes or 0},
    )
    db.session.commit()
    flash(
        _(
            "%(share)s: %(hours)s hours per share and season.",
            share=share_type.name,
            hours=format_hours(form.hours.minutes or 0),
        ),
        "success",
    )
    return redirect(url_for("work.settings")), 303


# --- the member's page -----------------------------------------------------------------------


def _own_member() -> Member:
    member = current_user.member
    if member is None:
        abort(404)
    return member


def _own_membership() -> Membership:
    membership = current_membership(_own_member(), farm_today())
    if membership is None:
        abort(404)
    return membership


def _mine_page(
    give: GiveForm | None = None, buyout: BuyoutForm | None = None, status: int = 200
) -> ResponseReturnValue:
    member = _own_member()
    membership = current_membership(member, farm_today())
    now = utcnow()
    settings = operations.read_settings()
    ledger = queries.ledger_of(membership) if membership is not None else None
    return render_template(
        "work/mine.html",
        community="work",
        membership=membership,
        ledger=ledger,
        format_hours=format_hours,
        open_jobs=queries.open_jobs(membership, now) if membership is not None else [],
        signups=queries.my_signups(membership) if membership is not None else [],
        deadline_of=operations.deadline_of,
        now=now,
        settings=settings,
        rate=format_price(settings.buyout_rate_cents, settings.currency),
        give_form=give or GiveForm(formdata=None),
        buyout_form=buyout or BuyoutForm(formdata=None),
        button=EmptyForm(),
    ), status


@bp.route("/mine")
@roles(Role.MEMBER)
def mine() -> ResponseReturnValue:
    return _mine_page()


def _job_for_member(work_job_id: int) -> tuple[WorkJob, Membership]:
    found = db.get_or_404(WorkJob, work_job_id)
    membership = operations.membership_for_job(_own_member(), found)
    if membership is None:
        abort(404)
    return found, membership


@bp.route("/mine/jobs/<int:work_job_id>/signup", methods=["POST"])
@roles(Role.MEMBER)
def signup(work_job_id: int) -> ResponseReturnValue:
    found, membership = _job_for_member(work_job_id)
    if not EmptyForm().validate_on_submit():
        _expired()
        return redirect(url_for("work.mine")), 303
    try:
        operations.sign_up(found, membership, current_user)
        db.session.commit()
    except ValidationFailed as exc:
        refuse(None, exc)
        return _mine_page(status=400)
    except IntegrityError:
        db.session.rollback()
        flash(_("You have already signed up for this job."), "error")
        return _mine_page(status=400)
    flash(_("You are signed up for %(title)s.", title=found.title), "success")
    return redirect(url_for("work.mine")), 303


@bp.route("/mine/jobs/<int:work_job_id>/cancel", methods=["POST"])
@roles(Role.MEMBER)
def cancel_signup(work_job_id: int) -> ResponseReturnValue:
    found, membership = _job_for_member(work_job_id)
    if not EmptyForm().validate_on_submit():
        _expired()
        return redirect(url_for("work.mine")), 303
    try:
        operations.cancel_signup(found, membership)
    except NotFound:
        db.session.rollback()
        abort(404)
    except ValidationFailed as exc:
        refuse(None, exc)
        return _mine_page(status=400)
    db.session.commit()
    flash(_("Your sign-up for %(title)s is cancelled.", title=found.title), "success")
    return redirect(url_for("work.mine")), 303


@bp.route("/mine/give", methods=["POST"])
@roles(Role.MEMBER)
def give() -> ResponseReturnValue:
    membership = _own_membership()
    form = GiveForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _mine_page(give=form, status=400)
    try:
        transfer = operations.give_hours(
            membership, form.email.data or "", form.hours.minutes or 0, current_user
        )
    except ValidationFailed as exc:
        refuse(form, exc)
        flash(_("Nothing was given."), "error")
        return _mine_page(give=form, status=400)
    db.session.commit()
    flash(
        _("You gave %(hours)s hours to that household.", hours=format_hours(transfer.minutes)),
        "success",
    )
    return redirect(url_for("work.mine")), 303


@bp.route("/mine/buyout", methods=["POST"])
@roles(Role.MEMBER)
def buyout() -> ResponseReturnValue:
    membership = _own_membership()
    form = BuyoutForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _mine_page(buyout=form, status=400)
    try:
        row = operations.buy_out(membership, form.hours.minutes or 0, current_user)
    except ValidationFailed as exc:
        refuse(form, exc)
        flash(_("Nothing was bought out."), "error")
        return _mine_page(buyout=form, status=400)
    db.session.commit()
    flash(
        _(
            "You bought out %(hours)s hours for %(amount)s: it comes on your next invoice.",
            hours=format_hours(row.minutes),
            amount=format_price(row.amount_cents, row.currency),
        ),
        "success",
    )
    return redirect(url_for("work.mine")), 303
