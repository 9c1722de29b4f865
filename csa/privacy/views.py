"""Their data: a member downloads everything the farm holds about its household and may ask
for it to be deleted; coordinators answer the requests and anonymise a household once its
last season has ended (csa/privacy/operations.py says what is removed and what is kept).

A member only ever reaches its own household: the pages take no household id.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Member, PrivacyRequest, PrivacyRequestState, Role
from csa.privacy import operations as svc
from csa.privacy import queries
from csa.privacy.export import household_zip
from csa.privacy.forms import AnonymiseForm, DeletionRequestForm, RefuseForm
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, roles
from csa.ui.forms import EmptyForm, flash_errors, refuse

bp = Blueprint("privacy", __name__)

STATE_LABELS = {
    PrivacyRequestState.REQUESTED: _l("waiting for the farm's answer"),
    PrivacyRequestState.DONE: _l("done: the personal data was removed"),
    PrivacyRequestState.REFUSED: _l("refused"),
}
ACTION_LABELS = {
    svc.EXPORTED: _l("data downloaded"),
    svc.REQUESTED: _l("deletion requested"),
    svc.REFUSED: _l("request refused"),
    svc.ANONYMISED: _l("anonymised"),
}


@bp.context_processor
def labels() -> dict[str, Any]:
    return {"state_labels": STATE_LABELS, "action_labels": ACTION_LABELS}


@bp.app_context_processor
def open_requests_count() -> dict[str, Any]:
    """`privacy_open_requests()` for the register page: how many households wait (read only
    when a template calls it)."""
    return {"privacy_open_requests": queries.open_request_count}


def _household() -> Member | None:
    return current_user.member if current_user.is_authenticated else None


def _mine(form: DeletionRequestForm | None = None, status: int = 200) -> ResponseReturnValue:
    member = _household()
    requests = queries.household_requests(member) if member is not None else []
    pending = next((r for r in requests if r.state == PrivacyRequestState.REQUESTED), None)
    anonymised = member is not None and svc.anonymised_event(member) is not None
    return render_template(
        "privacy/mine.html",
        member=member,
        requests=requests,
        pending=pending,
        anonymised=anonymised,
        download_form=EmptyForm(),
        form=form or DeletionRequestForm(formdata=None),
        section="privacy",
    ), status


@bp.route("/")
@roles(Role.MEMBER)
def mine() -> ResponseReturnValue:
    """Your data: the download, and the deletion request with its state."""
    return _mine()


@bp.route("/download", methods=["POST"])
@roles(Role.MEMBER)
def download() -> ResponseReturnValue:
    """The zip of everything the farm holds about the household (the download is audited)."""
    member = _household()
    if member is None:
        abort(404)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _mine(status=400)
    data = household_zip(member)
    svc.record_export(member, current_user._get_current_object())
    db.session.commit()
    name = f"household-{member.id}-data-{farm_today().isoformat()}.zip"
    return (
        data,
        200,
        {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/delete", methods=["POST"])
@roles(Role.MEMBER)
def request_deletion() -> ResponseReturnValue:
    """Ask the farm to delete the household's personal data."""
    member = _household()
    if member is None:
        abort(404)
    form = DeletionRequestForm()
    if form.validate_on_submit():
        try:
            svc.request_deletion(member, current_user._get_current_object(), form.reason.data or "")
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "Your request is sent. The farm removes your personal data once your last "
                    "season has ended, and tells you if it cannot."
                ),
                "success",
            )
            return redirect(url_for("privacy.mine"))
    return _mine(form, 400)


# --- coordinators ------------------------------------------------------------------------------


def _requests_page(
    refuse_forms: dict[int, RefuseForm] | None = None,
    anonymise_forms: dict[int, AnonymiseForm] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    today = farm_today()
    pending = queries.open_requests()
    refusals = {r.id: svc.anonymise_refusal(r.member, today) for r in pending}
    refuse_forms = refuse_forms or {}
    anonymise_forms = anonymise_forms or {}
    households = queries.anonymisable(today)
    return render_template(
        "privacy/requests.html",
        pending=pending,
        refusals=refusals,
        answered=queries.answered_requests(),
        households=households,
        events=queries.recent_events(),
        refuse_form=lambda rid: refuse_forms.get(rid) or RefuseForm(formdata=None),
        anonymise_form=lambda mid: anonymise_forms.get(mid) or AnonymiseForm(formdata=None),
    ), status


@bp.route("/requests")
@roles(*STAFF)
def requests() -> ResponseReturnValue:
    """The households' requests, the households that may be anonymised, and the audit."""
    return _requests_page()


@bp.route("/requests/<int:request_id>/refuse", methods=["POST"])
@roles(*STAFF)
def refuse_request(request_id: int) -> ResponseReturnValue:
    """Refuse a deletion request, saying why (the household is told)."""
    row = db.get_or_404(PrivacyRequest, request_id)
    form = RefuseForm()
    if form.validate_on_submit():
        try:
            svc.refuse_request(row, current_user._get_current_object(), form.answer.data or "")
        except ValidationFailed as exc:
            refuse(None, exc)
        else:
            db.session.commit()
            flash(_("The request is refused; the household is told why."), "success")
            return redirect(url_for("privacy.requests"))
    else:
        flash_errors(form)
    return _requests_page(refuse_forms={row.id: form}, status=400)


@bp.route("/households/<int:member_id>/anonymise", methods=["POST"])
@roles(*STAFF)
def anonymise(member_id: int) -> ResponseReturnValue:
    """Remove a household's personal data after its last season (its figures stay)."""
    member = db.get_or_404(Member, member_id)
    form = AnonymiseForm()
    if form.validate_on_submit():
        name = member.name
        try:
            svc.anonymise(member, current_user._get_current_object(), farm_today())
        except ValidationFailed as exc:
            refuse(None, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "%(name)s is anonymised: its personal data is removed, its memberships and "
                    "allocations stay.",
                    name=name,
                ),
                "success",
            )
            return redirect(url_for("privacy.requests"))
    else:
        flash_errors(form)
    return _requests_page(anonymise_forms={member.id: form}, status=400)
