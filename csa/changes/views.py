"""Changes with an effective date: a member asks, a coordinator approves or declines.

The member's page (`/changes/`) shows the terms in force, the household's requests and
their state, and the form; coordinators decide at `/changes/requests` and enter a change
directly from a membership (`/changes/membership/<id>`, linked from the register). Views
are thin: check the form, call csa.changes.operations, commit once, flash, redirect.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from csa.changes import operations as svc
from csa.changes.forms import ChangeForm, DeclineForm
from csa.changes.terms import InForce, in_force_one
from csa.core.clock import utcnow
from csa.errors import CsaError, ValidationFailed
from csa.extensions import db
from csa.models import (
    ChangeState,
    Member,
    Membership,
    MembershipChange,
    PickupSite,
    Role,
    Round,
    ShareType,
)
from csa.rounds.lifecycle import farm_today
from csa.share.queries import current_membership
from csa.ui.access import STAFF, roles
from csa.ui.formatting import weekday_name
from csa.ui.forms import EmptyForm, options, refuse

bp = Blueprint("changes", __name__)

RECENT = 50  # decided requests shown under the open ones


@bp.context_processor
def labels() -> dict[str, Any]:
    # Translated when a page renders (the module-level gettext above runs without a locale).
    return {
        "change_state_labels": {
            ChangeState.REQUESTED: _("waiting for a decision"),
            ChangeState.APPROVED: _("approved"),
            ChangeState.DECLINED: _("declined"),
            ChangeState.WITHDRAWN: _("withdrawn"),
        }
    }


def _history(membership: Membership) -> list[MembershipChange]:
    return list(
        db.session.scalars(
            select(MembershipChange)
            .options(joinedload(MembershipChange.share_type), joinedload(MembershipChange.site))
            .where(MembershipChange.membership_id == membership.id)
            .order_by(MembershipChange.requested_at.desc(), MembershipChange.id.desc())
        )
    )


def _choices(form: ChangeForm, membership: Membership, rounds: list[Round]) -> InForce:
    """Offer the coming rounds and the active settings (plus those in force); preset the
    fields to the terms in force on the first round offered. Return those terms."""
    first = rounds[0].date if rounds else farm_today()
    now = in_force_one(membership, first)
    form.effective.choices = options(
        (r.date.isoformat(), format_date(r.date, "full")) for r in rounds
    )
    types = list(
        db.session.scalars(
            select(ShareType)
            .where((ShareType.active.is_(True)) | (ShareType.id == now.share_type_id))
            .order_by(ShareType.weight_milli, ShareType.name)
        )
    )
    form.share_type.choices = options((t.id, t.name) for t in types)
    sites = list(
        db.session.scalars(
            select(PickupSite)
            .where((PickupSite.active.is_(True)) | (PickupSite.id == now.site_id))
            .order_by(PickupSite.name)
        )
    )
    form.site.choices = options((s.id, f"{s.name} ({weekday_name(s.weekday)})") for s in sites)
    if not form.is_submitted():
        form.share_type.data = now.share_type_id
        form.shares.data = now.shares
        form.site.data = now.site_id
    return now


def _data(form: ChangeForm) -> svc.ChangeData:
    """The terms of a validated form (ids were checked against the choices)."""
    try:
        effective = date.fromisoformat(form.effective.data or "")
    except ValueError as exc:
        raise ValidationFailed(_("Choose a round from the list.")) from exc
    share_type = db.session.get(ShareType, form.share_type.data)
    site = db.session.get(PickupSite, form.site.data)
    if share_type is None or site is None:
        raise ValidationFailed(_("Choose a share type and a site from the lists."))
    return svc.ChangeData(effective, share_type, form.shares.data or 0, site)


def _own_membership() -> Membership | None:
    member: Member | None = current_user.member if current_user.is_authenticated else None
    return current_membership(member, farm_today()) if member else None


# --- the member's page -------------------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
@roles(Role.MEMBER)
def mine() -> ResponseReturnValue:
    """The household's terms in force, its requests, and the form to ask for a change."""
    membership = _own_membership()
    form = ChangeForm()
    if membership is None:
        return render_template("changes/mine.html", membership=None, form=None)
    today, now = farm_today(), utcnow()
    rounds = svc.effective_rounds(membership, today, now)
    terms = _choices(form, membership, rounds)
    if form.is_submitted() and not rounds:
        flash(_("No coming round of your contract can take a change now."), "error")
    if form.validate_on_submit():
        try:
            change = svc.request_change(membership, _data(form), current_user, today, now)
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "Your request is sent: a coordinator decides and you get an e-mail. It "
                    "would apply from %(date)s.",
                    date=format_date(change.effective, "full"),
                ),
                "success",
            )
            return redirect(url_for("changes.mine"))
    return render_template(
        "changes/mine.html",
        membership=membership,
        terms=terms,
        today_terms=in_force_one(membership, today),
        form=form if rounds else None,
        history=_history(membership),
        action_form=EmptyForm(),
    ), (400 if form.is_submitted() else 200)


@bp.route("/<int:change_id>/withdraw", methods=["POST"])
@roles(Role.MEMBER)
def withdraw(change_id: int) -> ResponseReturnValue:
    """Take back a request no one has decided yet (only the household's own)."""
    membership = _own_membership()
    change = db.session.get(MembershipChange, change_id)
    if membership is None or change is None or change.membership_id != membership.id:
        abort(404)
    if not EmptyForm().validate_on_submit():
        flash(_("The form had expired; nothing was changed. Please try again."), "error")
        return redirect(url_for("changes.mine")), 303
    try:
        svc.withdraw(change)
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("changes.mine")), 303
    db.session.commit()
    flash(_("Your request is withdrawn."), "success")
    return redirect(url_for("changes.mine")), 303


# --- coordinators --------------------------------------------------------------------------


def _requests_page(
    decline_form: DeclineForm | None = None, failed: int | None = None, status: int = 200
) -> ResponseReturnValue:
    pending = list(
        db.session.scalars(
            select(MembershipChange)
            .options(
                joinedload(MembershipChange.membership).joinedload(Membership.member),
                joinedload(MembershipChange.share_type),
                joinedload(MembershipChange.site),
            )
            .where(MembershipChange.state == ChangeState.REQUESTED)
            .order_by(MembershipChange.effective, MembershipChange.id)
        )
    )
    decided = list(
        db.session.scalars(
            select(MembershipChange)
            .options(joinedload(MembershipChange.membership).joinedload(Membership.member))
            .where(MembershipChange.state != ChangeState.REQUESTED)
            .order_by(MembershipChange.decided_at.desc(), MembershipChange.id.desc())
            .limit(RECENT)
        )
    )
    before = {c.id: in_force_one(c.membership, c.effective) for c in pending}
    return render_template(
        "changes/requests.html",
        pending=pending,
        decided=decided,
        before=before,
        approve_form=EmptyForm(),
        decline_form=DeclineForm(formdata=None),
        failed_form=decline_form,
        failed=failed,
    ), status


@bp.route("/requests")
@roles(*STAFF)
def requests() -> ResponseReturnValue:
    """Every request waiting for a decision, and the latest decisions."""
    return _requests_page()


def _pending_or_404(change_id: int) -> MembershipChange:
    return db.get_or_404(MembershipChange, change_id)


@bp.route("/<int:change_id>/approve", methods=["POST"])
@roles(*STAFF)
def approve(change_id: int) -> ResponseReturnValue:
    change = _pending_or_404(change_id)
    if not EmptyForm().validate_on_submit():
        flash(_("The form had expired; nothing was changed. Please try again."), "error")
        return redirect(url_for("changes.requests")), 303
    try:
        svc.approve(change, current_user, farm_today(), utcnow())
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("changes.requests")), 303
    db.session.commit()
    flash(
        _(
            "Approved: %(name)s has the new terms from %(date)s; the household is told.",
            name=change.membership.member.name,
            date=format_date(change.effective, "full"),
        ),
        "success",
    )
    return redirect(url_for("changes.requests")), 303


@bp.route("/<int:change_id>/decline", methods=["POST"])
@roles(*STAFF)
def decline(change_id: int) -> ResponseReturnValue:
    change = _pending_or_404(change_id)
    if change.state != ChangeState.REQUESTED:
        flash(_("This request was decided or withdrawn meanwhile."), "error")
        return redirect(url_for("changes.requests")), 303
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            svc.decline(change, current_user, form.reason.data or "")
        except ValidationFailed as exc:
            refuse(form, exc)
        except CsaError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("changes.requests")), 303
        else:
            db.session.commit()
            flash(
                _("Declined; %(name)s is told why.", name=change.membership.member.name),
                "success",
            )
            return redirect(url_for("changes.requests")), 303
    return _requests_page(form, change.id, 400)


@bp.route("/membership/<int:membership_id>", methods=["GET", "POST"])
@roles(*STAFF)
def membership(membership_id: int) -> ResponseReturnValue:
    """A membership's changes, and a coordinator's own change (approved at once)."""
    ms = db.get_or_404(Membership, membership_id)
    form = ChangeForm()
    form.submit.label.text = _("Save the change")
    today, now = farm_today(), utcnow()
    rounds = svc.effective_rounds(ms, today, now)
    terms = _choices(form, ms, rounds)
    if form.is_submitted() and not rounds:
        flash(_("No coming round of this contract can take a change now."), "error")
    if form.validate_on_submit():
        try:
            change = svc.enter_change(ms, _data(form), current_user, today, now)
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "Saved: the new terms apply from %(date)s; the household is told.",
                    date=format_date(change.effective, "full"),
                ),
                "success",
            )
            return redirect(url_for("changes.membership", membership_id=ms.id)), 303
    return render_template(
        "changes/membership.html",
        membership=ms,
        terms=terms,
        today_terms=in_force_one(ms, today),
        form=form if rounds else None,
        history=_history(ms),
    ), (400 if form.is_submitted() else 200)
