"""Rounds: the list of distribution dates and each round's split, lock, reopen and export.

Views are thin: check the form, call the operations, commit once, flash, redirect. Adding and
reopening a round have one endpoint each; the calendar page posts to them too, with a
`next` to come back to (checked by csa.ui.access.safe_next).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from csa.errors import CsaError
from csa.extensions import db
from csa.models import HarvestEntry, PickupSite, Role, Round
from csa.rounds import lifecycle as rounds_svc
from csa.rounds import table as tables
from csa.rounds.forms import AddRoundForm, LockForm, ReopenForm
from csa.rounds.lifecycle import lock_round, reopen_round
from csa.rounds.split import export_csv, membership_split, round_split
from csa.rounds.urls import round_or_404
from csa.share import queries as share_queries
from csa.ui import charts
from csa.ui.access import ANY_USER, FIELD, STAFF, roles, safe_next
from csa.ui.formatting import format_quantity, unit_label
from csa.ui.forms import flash_errors
from csa.ui.labels import HOLD_LABELS
from csa.ui.labels import ROUND_STATUS_LABELS as STATUS_LABELS

bp = Blueprint("rounds", __name__)


@bp.context_processor
def labels() -> dict[str, Any]:
    return {"round_status_labels": STATUS_LABELS, "hold_labels": HOLD_LABELS}


@bp.app_template_global()
def add_round_form() -> AddRoundForm:
    """The add-round form for any page's template (the calendar's too), without an import."""
    return AddRoundForm(formdata=None)


@bp.app_template_global()
def reopen_round_form() -> ReopenForm:
    """The reopen form for any page's template; it posts to rounds.reopen."""
    return ReopenForm(formdata=None)


def _is_staff() -> bool:
    return bool(current_user.role in STAFF)


def _next() -> str | None:
    """The local page a form came from (the calendar's weeks), or None."""
    return safe_next(request.args.get("next"))


def _day_text(day: dt.date) -> str:
    return str(format_date(day, "medium"))


def _index_page(form: AddRoundForm, status: int = 200) -> ResponseReturnValue:
    rounds = db.session.scalars(select(Round).order_by(Round.date.desc())).all()
    sites = db.session.scalars(select(PickupSite).order_by(PickupSite.name)).all()
    entries: dict[int, int] = {
        round_id: count
        for round_id, count in db.session.execute(
            select(HarvestEntry.round_id, func.count()).group_by(HarvestEntry.round_id)
        )
    }
    served = {r.id: [s for s in sites if s.serves(r.schedule_date)] for r in rounds}
    return (
        render_template(
            "rounds/index.html",
            rounds=rounds,
            served=served,
            entries=entries,
            form=form if _is_staff() else None,
        ),
        status,
    )


@bp.route("/")
@roles(*FIELD)
def index() -> ResponseReturnValue:
    return _index_page(AddRoundForm())


@bp.route("/season")
@roles(*FIELD)
def season() -> ResponseReturnValue:
    """The season's harvest per crop and week: what the field gave, at a glance."""
    today = rounds_svc.farm_today()
    data = rounds_svc.season_harvest(rounds_svc.season_on(today), today)
    weeks = [str(format_date(w, "d MMM")) for w in data.weeks]
    rows = [
        charts.WeekRow(
            label=c.name,
            values=data.milli[c.id],
            total_text=format_quantity(data.total(c.id), c.unit),
            value_texts=[format_quantity(m, c.unit) for m in data.milli[c.id]],
        )
        for c in data.crops
    ]
    chart = (
        charts.weekly_bars(
            rows,
            weeks,
            chart_id="season-chart",
            title=_("Harvest per crop and week"),
            desc=_(
                "One row per crop, one bar per week; each row has its own scale. "
                "The total of the season is at the end of each row."
            ),
        )
        if rows
        else None
    )
    summary = [
        (
            c,
            data.total(c.id),
            sum(1 for m in data.milli[c.id] if m),
            max(data.milli[c.id]),
        )
        for c in data.crops
    ]
    return render_template("rounds/season.html", data=data, chart=chart, summary=summary)


@bp.route("/add", methods=["POST"])
@roles(*STAFF)
def create() -> ResponseReturnValue:
    """Add a round by hand (logged, never on a past date), from this page or the calendar.

    A refusal writes nothing: back on the page named by `next` with the reason flashed, or
    else the rounds page again (400) with the reason next to the date.
    """
    form = AddRoundForm()
    back = _next()
    problem = None
    if form.validate_on_submit():
        try:
            round_ = rounds_svc.add_round(form.date.data, current_user)
        except CsaError as exc:
            db.session.rollback()
            problem = str(exc)
            form.date.errors = [*form.date.errors, problem]
        else:
            db.session.commit()
            flash(
                _("An extra round on %(date)s is added.", date=_day_text(round_.date)),
                "success",
            )
            return redirect(back or url_for("rounds.show", date=round_.date.isoformat()))
    if back is None:
        return _index_page(form, 400)
    if problem is None:
        flash_errors(form)
    else:
        flash(problem, "error")
    return redirect(back)


@bp.route("/<date>")
@roles(*FIELD)
def show(date: str) -> ResponseReturnValue:
    round_ = round_or_404(date)
    split = round_split(round_)
    table = tables.build_table(split)
    return render_template(
        "rounds/show.html",
        round=round_,
        split=split,
        table=table,
        text=tables.CellText(),
        unit_label=unit_label,
        lock_form=LockForm() if _is_staff() else None,
        reopen_form=ReopenForm() if _is_staff() else None,
        # The sheets feature lands on its own: no link until its blueprint is registered.
        sheets_link="sheets.index" in current_app.view_functions,
    )


@bp.route("/<date>/lock", methods=["POST"])
@roles(*STAFF)
def lock(date: str) -> ResponseReturnValue:
    round_ = round_or_404(date)
    form = LockForm()
    here = url_for("rounds.show", date=round_.date.isoformat())
    if not form.validate_on_submit():
        flash(_("Tick the box to lock the round."), "error")
        return redirect(here)
    try:
        locked = lock_round(round_, current_user)
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(here)
    db.session.commit()
    if locked:
        flash(_("The round is locked; its split is stored."), "success")
    else:
        flash(_("The round was locked already; nothing changed."), "info")
    return redirect(here)


@bp.route("/<date>/reopen", methods=["POST"])
@roles(*STAFF)
def reopen(date: str) -> ResponseReturnValue:
    """Reopen a locked round (logged with its reason), from its page or the calendar."""
    round_ = round_or_404(date)
    form = ReopenForm()
    back = _next() or url_for("rounds.show", date=round_.date.isoformat())
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(back)
    try:
        reopen_round(round_, current_user, (form.reason.data or "").strip())
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    db.session.commit()
    flash(
        _(
            "The round of %(date)s is open again; its split will be stored when it locks.",
            date=_day_text(round_.date),
        ),
        "success",
    )
    return redirect(back)


@bp.route("/<date>/export.csv")
@roles(*STAFF)
def export(date: str) -> ResponseReturnValue:
    round_ = round_or_404(date)
    body = export_csv(round_split(round_))
    name = f"round-{round_.date.isoformat()}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/<date>/explain/<int:membership_id>")
@roles(*ANY_USER)
def explain(date: str, membership_id: int) -> ResponseReturnValue:
    round_ = round_or_404(date)
    membership = share_queries.get_membership(membership_id)
    if membership is None:
        abort(404)
    # A member may only see its own household; someone else's answers 404, as if absent.
    if current_user.role == Role.MEMBER and membership.member_id != current_user.member_id:
        abort(404)
    part = membership_split(round_, membership)
    if not part.in_round:
        abort(404)
    return render_template(
        "rounds/explain.html",
        round=round_,
        membership=membership,
        shares=part.shares,
        crops=part.crops,
        hold=part.hold,
        text=tables.CellText(),
    )
