"""Sign-up: the public page (/join/, no login), its confirmation link, and the coordinators'
requests and contract terms (/signup/...).

Whatever a visitor sends that passes the form's checks, the page answers the same ("check
your mail"): a known address, a bot caught by the honeypot or by the fill time, and a
real request look alike (csa/signup/operations.py says what each mail holds).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from csa.accounts import throttle
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import SignupRequest, SignupState
from csa.register import waiting
from csa.signup import operations as ops
from csa.signup.forms import HONEYPOT, DeclineForm, JoinForm, TermsForm
from csa.ui.access import STAFF, public, roles
from csa.ui.args import page_arg
from csa.ui.formatting import format_clock, format_price, weekday_name
from csa.ui.forms import EmptyForm, flash_errors, refuse
from csa.ui.languages import language_choices

bp = Blueprint("signup", __name__)
log = logging.getLogger(__name__)
PER_PAGE = 100
FILTERS = {
    "open": _l("To decide"),
    "confirmed": _l("Confirmed"),
    "waiting": _l("Site full"),
    "approved": _l("Approved"),
    "declined": _l("Declined"),
    "all": _l("All"),
}
STATE_LABELS = {
    SignupState.UNCONFIRMED: _l("not confirmed"),
    SignupState.CONFIRMED: _l("confirmed"),
    SignupState.WAITING: _l("confirmed, site full"),
    SignupState.APPROVED: _l("approved"),
    SignupState.DECLINED: _l("declined"),
}


def _invite_link(token: str) -> str:
    return url_for("auth.set_password", token=token, _external=True)


def _confirm_link(token: str) -> str:
    return url_for("signup.confirm", token=token, _external=True)


def _offer() -> dict[str, Any]:
    """What the public page shows: seasons, share types with prices, sites with free places."""
    seasons = ops.open_seasons()
    sites = ops.offered_sites()
    return {
        "seasons": seasons,
        "share_types": ops.offered_share_types(),
        "sites": sites,
        "free": {
            (site.id, season.id): waiting.places_for_newcomers(site, season)
            for site in sites
            for season in seasons
        },
        "terms": ops.current_terms(),
    }


def _join_form(offer: dict[str, Any]) -> JoinForm:
    form = JoinForm()
    form.set_choices(
        [(s.id, s.name) for s in offer["seasons"]],
        [(t.id, f"{t.name} ({format_price(t.price_cents)})") for t in offer["share_types"]],
        [
            (
                s.id,
                f"{s.name}: {weekday_name(s.weekday)} "
                f"{format_clock(s.opens)}–{format_clock(s.closes)}",
            )
            for s in offer["sites"]
        ],
        language_choices(),
    )
    return form


def _check_your_mail(email: str) -> ResponseReturnValue:
    """The one answer to every accepted form, whatever became of it."""
    return render_template("signup/sent.html", email=email, days=ops.max_age_days())


@bp.route("/join/", methods=["GET", "POST"])
@public
def join() -> ResponseReturnValue:
    """The public sign-up page: what the farm offers and the form to ask for a share."""
    offer = _offer()
    form = _join_form(offer)
    terms = offer["terms"]
    if not form.is_submitted():
        form.locale.data = str(get_locale())
        form.stamp.data = ops.form_stamp()
        form.terms_version.data = str(terms.id) if terms is not None else ""
        return render_template("signup/join.html", form=form, **offer)
    if form[HONEYPOT].data or ops.sent_too_fast(form.stamp.data or ""):
        # A bot (the trap filled, or sent faster than anyone reads): the same answer as
        # everyone gets, and nothing written.
        return _check_your_mail((form.email.data or "")[:254])
    if form.validate():
        try:
            checked = ops.check(form.data_for())
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            address = request.remote_addr or "?"
            wait = throttle.take(ops.THROTTLE, "", address, throttle.rule("SIGNUP_ADDRESS"))
            if wait:
                db.session.commit()  # the refused attempt is not counted; the row may be new
                seconds = throttle.wait_seconds(wait)
                flash(
                    ngettext(
                        "Too many sign-ups from here. Try again in %(num)d second.",
                        "Too many sign-ups from here. Try again in %(num)d seconds.",
                        seconds,
                    ),
                    "error",
                )
                return (
                    render_template("signup/join.html", form=form, **offer),
                    429,
                    {"Retry-After": str(seconds)},
                )
            db.session.commit()  # the attempt is counted before anything else happens
            response = make_response(_check_your_mail(checked.data.email))
            # Looking the address up, recording and mailing happen after the answer has
            # gone, so the answer takes the same time whether the address is known or not.
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            response.call_on_close(partial(_record, app, request.url_root, checked.data))
            return response
    # The stamp sent stays: a person who fixes one field and sends again at once is no bot.
    return render_template("signup/join.html", form=form, **offer), 400


def _record(app: Flask, url_root: str, data: ops.SignupData) -> None:
    """Record the request and queue its mail (after the response, in its own context)."""
    with app.test_request_context(base_url=url_root):
        try:
            checked = ops.check(data)  # the rows again, in this context's session
            allowed = not throttle.take(
                ops.THROTTLE, checked.data.email, "", throttle.rule("SIGNUP_EMAIL")
            )
            ops.submit(checked, _confirm_link, allowed)
            db.session.commit()
        except Exception:
            # Nobody is waiting for this answer; the log is the only place to say it failed.
            db.session.rollback()
            log.exception("sign-up of %s not recorded", data.email)


@bp.route("/join/privacy")
@public
def privacy() -> ResponseReturnValue:
    """The privacy notice the sign-up form asks consent to."""
    return render_template("signup/privacy.html")


@bp.route("/join/confirm/<token>", methods=["GET", "POST"])
@public
def confirm(token: str) -> ResponseReturnValue:
    """Confirm a request from the mail's link: the GET shows a button, the POST confirms."""
    signup = ops.request_for_link(token)
    if signup is None:
        return render_template("signup/link_gone.html"), 404
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            done = ops.confirm(token, _invite_link, None)
        except ValidationFailed as exc:
            refuse(None, exc)
            return render_template("signup/confirm.html", form=form, signup=signup), 400
        if done is None:
            db.session.rollback()
            return render_template("signup/link_gone.html"), 404
        db.session.commit()
        return render_template("signup/confirmed.html", done=done)
    status = 400 if form.is_submitted() else 200
    return render_template("signup/confirm.html", form=form, signup=signup), status


# --- coordinators -------------------------------------------------------------------------


@bp.route("/signup/requests")
@roles(*STAFF)
def requests() -> ResponseReturnValue:
    """Confirmed requests (never the unconfirmed ones), open ones first by default."""
    shown = request.args.get("state", "open")
    if shown not in FILTERS:
        shown = "open"
    stmt = select(SignupRequest).where(SignupRequest.state != SignupState.UNCONFIRMED)
    if shown == "open":
        stmt = stmt.where(SignupRequest.state.in_(ops.OPEN))
    elif shown != "all":
        stmt = stmt.where(SignupRequest.state == SignupState(shown))
    stmt = stmt.order_by(SignupRequest.confirmed_at, SignupRequest.id)
    page = db.paginate(stmt, page=page_arg(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "signup/requests.html",
        page=page,
        shown=shown,
        filters=FILTERS,
        approve_form=EmptyForm(),
        decline_form=DeclineForm(),
        state_labels=STATE_LABELS,
        auto=bool(current_app.config["SIGNUP_AUTO_APPROVE"]),
    )


def _open_request(signup_id: int) -> SignupRequest:
    signup = db.get_or_404(SignupRequest, signup_id)
    if signup.state == SignupState.UNCONFIRMED:
        abort(404)  # it does not count until confirmed
    return signup


@bp.route("/signup/requests/<int:signup_id>/approve", methods=["POST"])
@roles(*STAFF)
def approve(signup_id: int) -> ResponseReturnValue:
    signup = _open_request(signup_id)
    if EmptyForm().validate_on_submit():
        try:
            done = ops.approve(signup, current_user, _invite_link)
        except ValidationFailed as exc:
            refuse(None, exc)
        else:
            db.session.commit()
            if done.position is not None:
                flash(
                    _(
                        "%(name)s is approved and on the waiting list of %(site)s, number "
                        "%(position)d; the household is mailed.",
                        name=signup.name,
                        site=signup.site.name,
                        position=done.position,
                    ),
                    "success",
                )
            else:
                flash(
                    _(
                        "%(name)s is approved: the membership and the login exist, and the "
                        "household is mailed.",
                        name=signup.name,
                    ),
                    "success",
                )
    return redirect(url_for("signup.requests"))


@bp.route("/signup/requests/<int:signup_id>/decline", methods=["POST"])
@roles(*STAFF)
def decline(signup_id: int) -> ResponseReturnValue:
    signup = _open_request(signup_id)
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            ops.decline(signup, form.reason.data or "", current_user)
        except ValidationFailed as exc:
            refuse(None, exc)
        else:
            db.session.commit()
            flash(_("%(name)s is declined; the household is mailed.", name=signup.name), "success")
            return redirect(url_for("signup.requests"))
    else:
        flash_errors(form)
    return redirect(url_for("signup.requests"))


@bp.route("/signup/terms", methods=["GET", "POST"])
@roles(*STAFF)
def terms() -> ResponseReturnValue:
    """The contract terms: the current version, the ones before, and a new version."""
    current = ops.current_terms()
    form = TermsForm(data={"text": current.text} if current is not None else None)
    if form.validate_on_submit():
        try:
            saved = ops.save_terms(form.text.data or "", current_user)
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(
                _("Version %(num)d of the contract terms is saved.", num=saved.version),
                "success",
            )
            return redirect(url_for("signup.terms"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "signup/terms.html", form=form, current=current, history=ops.terms_history()
    ), status
