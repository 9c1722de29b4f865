"""Who owes what (coordinators): open amounts aged 0–30, 31–60 and over 60 days past due,
the reminders sent, and the hardship arrangements that stop them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Member
from csa.reminders import operations as svc
from csa.reminders import rules
from csa.reminders.forms import HardshipForm
from csa.reminders.queries import owing as owing_rows
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, roles
from csa.ui.forms import EmptyForm, flash_errors, refuse

bp = Blueprint("reminders", __name__)


def _page(
    failed: HardshipForm | None = None, failed_id: int | None = None, status: int = 200
) -> ResponseReturnValue:
    today = farm_today()
    rows, totals = owing_rows(today)
    if failed is not None and not any(
        r.member.id == failed_id and r.hardship is None for r in rows
    ):
        flash_errors(failed)  # its row shows no form (no longer owing, or under hardship)
    return render_template(
        "reminders/owing.html",
        section="owing",
        rows=rows,
        totals=totals,
        today=today,
        buckets=rules.BUCKETS,
        hardship_form=HardshipForm(formdata=None),
        failed_form=failed,
        failed_id=failed_id,
        end_form=EmptyForm(),
    ), status


@bp.route("/")
@roles(*STAFF)
def owing() -> ResponseReturnValue:
    """Every household with an open amount, aged as of today."""
    return _page()


@bp.route("/households/<int:member_id>/hardship", methods=["POST"])
@roles(*STAFF)
def hardship(member_id: int) -> ResponseReturnValue:
    """Put a household under a hardship arrangement: no reminders until it ends."""
    member = db.get_or_404(Member, member_id)
    form = HardshipForm()
    if form.validate_on_submit():
        try:
            svc.mark_hardship(
                member,
                note=form.note.data or "",
                until=form.until.data,
                by=current_user,
                today=farm_today(),
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(
                _("%(name)s is under a hardship arrangement: no reminders go.", name=member.name),
                "success",
            )
            return redirect(url_for("reminders.owing")), 303
    return _page(form, member.id, 400)


@bp.route("/households/<int:member_id>/hardship/end", methods=["POST"])
@roles(*STAFF)
def end_hardship(member_id: int) -> ResponseReturnValue:
    """End a household's hardship arrangement today."""
    member = db.get_or_404(Member, member_id)
    if not EmptyForm().validate_on_submit():
        flash(_("The form had expired; nothing was changed. Please try again."), "error")
        return redirect(url_for("reminders.owing")), 303
    try:
        svc.end_hardship(member, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("reminders.owing")), 303
    db.session.commit()
    flash(_("The hardship arrangement of %(name)s has ended.", name=member.name), "success")
    return redirect(url_for("reminders.owing")), 303
