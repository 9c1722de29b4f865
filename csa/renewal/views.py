"""The member's Next season page (its renewal and its trial) and the coordinators' overview.

A member only ever sees its own household's renewal and trial: no URL names one, the views
find them from the signed-in login. Every answer is a POST with CSRF; a refused one shows
its message next to the field and writes nothing (the view commits once, or rolls back).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Member, PickupSite, Renewal, RenewalState, Role, ShareType
from csa.register import waiting
from csa.renewal import operations as svc
from csa.renewal import queries
from csa.renewal.forms import (
    STATE_LABELS,
    AcceptForm,
    ChangeForm,
    DeclineForm,
    OverviewFilterForm,
)
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, roles
from csa.ui.args import page_arg
from csa.ui.formatting import weekday_name
from csa.ui.forms import EmptyForm, options, refuse

bp = Blueprint("renewal", __name__)
PER_PAGE = 100


@bp.context_processor
def labels() -> dict[str, Any]:
    return {"renewal_state_labels": STATE_LABELS}


def _own_member() -> Member | None:
    return current_user.member if current_user.is_authenticated else None


def _own_renewal() -> Renewal | None:
    member = _own_member()
    return queries.renewal_of(member) if member is not None else None


def _change_choices(form: ChangeForm, renewal: Renewal) -> None:
    """Offer the active share types and sites, plus those the renewal uses now."""
    kept = svc.preselected(renewal)

    def rows(model: Any, order: Any, keep: list[Any]) -> list[Any]:
        items = list(
            db.session.scalars(select(model).where(model.active.is_(True)).order_by(order))
        )
        for item in keep:
            if item not in items:
                items.insert(0, item)
        return items

    types = rows(ShareType, ShareType.weight_milli, [kept.share_type, renewal.share_type])
    form.share_type.choices = options((t.id, t.name) for t in types)
    sites = rows(PickupSite, PickupSite.name, [kept.site, renewal.site])
    season = renewal.next_season
    choices = []
    for site in sites:
        label = f"{site.name} ({weekday_name(site.weekday)})"
        own = site.id in (kept.site.id, renewal.site_id)
        if not own and waiting.free_places(site, season) <= 0:
            label = _("%(site)s: full", site=label)
        choices.append((site.id, label))
    form.site.choices = options(choices)
    if not form.is_submitted():
        form.share_type.data = renewal.share_type_id
        form.shares.data = renewal.shares
        form.site.data = renewal.site_id


def _page(
    renewal: Renewal | None,
    change_form: ChangeForm | None = None,
    decline_form: DeclineForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    member = _own_member()
    today = farm_today()
    if renewal is not None and change_form is None:
        change_form = ChangeForm(formdata=None)
        _change_choices(change_form, renewal)
    return render_template(
        "renewal/mine.html",
        member=member,
        renewal=renewal,
        kept=svc.preselected(renewal) if renewal else None,
        open=renewal is not None and svc.is_open(renewal, today),
        trial=queries.trial_of(member) if member is not None else None,
        accept_form=AcceptForm(),
        change_form=change_form,
        decline_form=decline_form or DeclineForm(formdata=None),
        trial_form=EmptyForm(),
    ), status


@bp.route("/")
@roles(Role.MEMBER)
def mine() -> ResponseReturnValue:
    """Next season: accept, change or decline the renewal; decide after a trial."""
    return _page(_own_renewal())


def _done(renewal: Renewal) -> str:
    if renewal.state == RenewalState.DECLINED:
        return _("Saved: you do not renew for %(season)s.", season=renewal.next_season.name)
    return _(
        "Confirmed: your share for %(season)s is %(shares)s × %(type)s at %(site)s.",
        season=renewal.next_season.name,
        shares=renewal.shares,
        type=renewal.share_type.name,
        site=renewal.site.name,
    )


@bp.route("/accept", methods=["POST"])
@roles(Role.MEMBER)
def accept() -> ResponseReturnValue:
    renewal = _own_renewal()
    if renewal is None:
        flash(_("There is no renewal on your account."), "error")
        return _page(None, status=400)
    form = AcceptForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return _page(renewal, status=400)
    renewal_id = renewal.id
    try:
        svc.answer(renewal, None, farm_today())
        db.session.commit()
    except ValidationFailed as exc:
        refuse(None, exc)
        return _page(db.session.get(Renewal, renewal_id), status=400)
    except IntegrityError:
        return _answered_twice()
    flash(_done(renewal), "success")
    return redirect(url_for("renewal.mine"))


def _answered_twice() -> ResponseReturnValue:
    """Two answers sent at once (a double tap): the first one won, this one wrote nothing."""
    db.session.rollback()
    flash(_("Your answer was sent twice; the page shows the one that was saved."), "info")
    return redirect(url_for("renewal.mine"))


@bp.route("/change", methods=["POST"])
@roles(Role.MEMBER)
def change() -> ResponseReturnValue:
    renewal = _own_renewal()
    if renewal is None:
        flash(_("There is no renewal on your account."), "error")
        return _page(None, status=400)
    renewal_id = renewal.id
    form = ChangeForm()
    _change_choices(form, renewal)
    if form.validate_on_submit():
        share_type = db.session.get(ShareType, form.share_type.data)
        site = db.session.get(PickupSite, form.site.data)
        try:
            if share_type is None or site is None:
                raise ValidationFailed(_("Choose from the lists."))
            svc.answer(renewal, svc.Choice(share_type, form.shares.data or 0, site), farm_today())
            db.session.commit()
        except ValidationFailed as exc:
            refuse(form, exc)
        except IntegrityError:
            return _answered_twice()
        else:
            flash(_done(renewal), "success")
            return redirect(url_for("renewal.mine"))
    renewal = db.session.get(Renewal, renewal_id)
    if not any(f.errors for f in form):
        flash(_("Check the choices below."), "error")
    return _page(renewal, change_form=form, status=400)


@bp.route("/decline", methods=["POST"])
@roles(Role.MEMBER)
def decline() -> ResponseReturnValue:
    renewal = _own_renewal()
    if renewal is None:
        flash(_("There is no renewal on your account."), "error")
        return _page(None, status=400)
    renewal_id = renewal.id
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            svc.decline(renewal, form.reason.data or "", farm_today())
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_done(renewal), "success")
            return redirect(url_for("renewal.mine"))
    if not any(f.errors for f in form):
        flash(_("Check the form below."), "error")
    return _page(db.session.get(Renewal, renewal_id), decline_form=form, status=400)


def _trial_action(join: bool) -> ResponseReturnValue:
    member = _own_member()
    trial = queries.trial_of(member) if member is not None else None
    if trial is None:
        flash(_("This share has no trial waiting for your decision."), "error")
        return _page(_own_renewal(), status=400)
    if not EmptyForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return _page(_own_renewal(), status=400)
    try:
        if join:
            svc.join_after_trial(trial, farm_today())
        else:
            svc.leave_after_trial(trial, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _page(_own_renewal(), status=400)
    db.session.commit()
    if join:
        flash(
            _(
                "Welcome for the whole season: your share runs to %(date)s.",
                date=trial.end.isoformat(),
            ),
            "success",
        )
    else:
        flash(
            _("Saved: your share ends after the trial, on %(date)s.", date=trial.end.isoformat()),
            "success",
        )
    return redirect(url_for("renewal.mine"))


@bp.route("/trial/join", methods=["POST"])
@roles(Role.MEMBER)
def trial_join() -> ResponseReturnValue:
    return _trial_action(join=True)


@bp.route("/trial/leave", methods=["POST"])
@roles(Role.MEMBER)
def trial_leave() -> ResponseReturnValue:
    return _trial_action(join=False)


@bp.route("/overview")
@roles(*STAFF)
def overview() -> ResponseReturnValue:
    """Every renewal's state: counts per state and the list, filtered by state."""
    state_arg = request.args.get("state", "")
    state = RenewalState(state_arg) if state_arg in set(RenewalState) else None
    form = OverviewFilterForm(request.args)
    form.state.choices = options(
        [("", _("Every state")), *((s.value, str(label)) for s, label in STATE_LABELS.items())]
    )
    form.state.data = state.value if state else ""
    page = db.paginate(
        queries.overview_query(state), page=page_arg(), per_page=PER_PAGE, error_out=False
    )
    return render_template(
        "renewal/overview.html",
        form=form,
        page=page,
        counts=queries.state_counts(),
        state=state,
        args={"state": state.value} if state else {},
    )
