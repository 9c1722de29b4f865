"""Login, logout, setting a password by link (invitation, forgot password, reset by staff),
and the logins an admin manages."""

from __future__ import annotations

import logging
from functools import partial

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from csa.accounts import operations as accounts
from csa.accounts import profile, throttle
from csa.accounts.forms import (
    ROLE_LABELS,
    ForgotPasswordForm,
    LoginForm,
    RoleForm,
    SetPasswordForm,
    StaffUserForm,
)
from csa.accounts.invitations import show_invitation
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Role, User
from csa.ui.access import ANY_USER, STAFF, public, roles, safe_next
from csa.ui.args import page_arg
from csa.ui.forms import EmptyForm, refuse
from csa.ui.languages import picked_before_sign_in

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


def too_many(template: str, form: FlaskForm, wait: float, **context: object) -> ResponseReturnValue:
    """Refuse with 429 and say how long to wait."""
    seconds = throttle.wait_seconds(wait)
    flash(
        ngettext(
            "Too many attempts. Try again in %(num)d second.",
            "Too many attempts. Try again in %(num)d seconds.",
            seconds,
        ),
        "error",
    )
    return render_template(template, form=form, **context), 429, {"Retry-After": str(seconds)}


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = accounts.normalise_email(form.email.data or "")
        address = request.remote_addr or "?"
        wait = throttle.take_login(email, address)
        # The attempt is counted and committed before the password is checked, so parallel
        # attempts queue on the counter instead of all passing one stale check.
        db.session.commit()
        if wait:
            return too_many("auth/login.html", form, wait)
        user = accounts.authenticate(email, form.password.data or "")
        if user is None:
            flash(_("Wrong e-mail or password."), "error")
            return render_template("auth/login.html", form=form), 200
        throttle.login_succeeded(email, address)
        picked = picked_before_sign_in()
        if picked and not user.locale:
            profile.set_language(user, picked)  # the language chosen on the way in stays
        db.session.commit()
        login_user(user, remember=bool(form.remember.data))
        return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@roles(*ANY_USER)
def logout() -> ResponseReturnValue:
    """Sign out everywhere: this session, its remember cookie and every copy of either."""
    if EmptyForm().validate_on_submit():
        accounts.end_sessions(current_user)
        db.session.commit()
        logout_user()
        flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/forgot", methods=["GET", "POST"])
@public
def forgot_password() -> ResponseReturnValue:
    """Ask for a forgot-password link; the answer is the same whether the login exists or not."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        address = request.remote_addr or "?"
        wait = throttle.take(throttle.FORGOT, "", address, throttle.rule("FORGOT_ADDRESS"))
        db.session.commit()
        if wait:
            return too_many("auth/forgot.html", form, wait)
        email = accounts.normalise_email(form.email.data or "")
        flash(
            ngettext(
                "If %(email)s has a login here, a link to choose a new password is on its way. "
                "It works for %(num)d minute.",
                "If %(email)s has a login here, a link to choose a new password is on its way. "
                "It works for %(num)d minutes.",
                accounts.reset_minutes(),
                email=email,
            ),
            "info",
        )
        response = redirect(url_for("auth.login"))
        # Looking the login up and mailing happen after the answer has gone, so the answer
        # takes the same time whether the e-mail has a login or not.
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        response.call_on_close(partial(_send_reset_link, app, request.url_root, email, address))
        return response
    return render_template("auth/forgot.html", form=form), 400 if form.is_submitted() else 200


def _send_reset_link(app: Flask, url_root: str, email: str, address: str) -> None:
    """Mail a forgot-password link if the login exists (after the response, in its own context)."""
    with app.test_request_context(base_url=url_root):
        try:
            user = accounts.login_for_reset(email)
            allowed = user is not None and not throttle.take(
                throttle.FORGOT, email, "", throttle.rule("FORGOT_EMAIL")
            )
            key = None
            if user is not None and allowed:
                token = accounts.reset_token(user)
                link = url_for("auth.reset_password", token=token, _external=True)
                key = accounts.mail_reset_link(user, link)
            db.session.commit()
            # Sent after the commit; if the server is down the scheduler tries again.
            accounts.deliver_now(key)
        except Exception:
            # Nobody is waiting for this answer; the log is the only place to say it failed.
            db.session.rollback()
            log.exception("forgot-password link for %s (from %s) not sent", email, address)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> ResponseReturnValue:
    """Choose a new password through a forgot-password link (it works once)."""
    user = accounts.user_from_reset(token)
    if user is None:
        abort(404)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.password_set_by_link(user, form.password.data or "")
        except ValidationFailed as exc:
            form.password.errors = [str(exc)]
        else:
            db.session.commit()
            login_user(user)
            flash(_("Your new password is set; every other session was signed out."), "success")
            return redirect(url_for("main.index"))
    return render_template("auth/set_password.html", form=form, user=user)


@bp.route("/logins/<int:user_id>/reset-password", methods=["GET", "POST"])
@roles(*STAFF)
def staff_reset(user_id: int) -> ResponseReturnValue:
    """Reset a login's password after a confirmation: audited, the owner is e-mailed."""
    user = db.get_or_404(User, user_id)
    if user.role != Role.MEMBER and current_user.role != Role.ADMIN:
        abort(404)  # a staff login is the admins' business; to others it is not there
    form = EmptyForm()
    status = 200
    if form.validate_on_submit():
        try:
            token, event = accounts.reset_password(user, current_user)
        except ValidationFailed as exc:
            refuse(None, exc)
            status = 400
        else:
            link = url_for("auth.set_password", token=token, _external=True)
            key = accounts.mail_reset_notice(user, event, link)
            db.session.commit()
            # Delivered only after the commit: the reset stands whatever the mail server says.
            mailed, problem = accounts.deliver_now(key)
            if problem:
                flash(problem, "warning")
            return render_template(
                "auth/reset_done.html",
                user=user,
                link=link,
                mailed=mailed,
                invite_days=accounts.invite_days(),
            )
    return render_template(
        "auth/reset_confirm.html",
        user=user,
        form=form,
        events=accounts.password_events(user),
    ), status


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@public
def set_password(token: str) -> ResponseReturnValue:
    user = accounts.user_from_invite(token)
    if user is None:
        abort(404)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(user, form.password.data or "")
        except ValidationFailed as exc:
            form.password.errors = [str(exc)]
        else:
            db.session.commit()
            login_user(user)
            flash(_("Your password is set. Welcome!"), "success")
            return redirect(url_for("main.index"))
    return render_template("auth/set_password.html", form=form, user=user)


PER_PAGE = 100


# --- staff logins (admins) ------------------------------------------------------------------------


@bp.route("/users")
@roles(Role.ADMIN)
def users() -> ResponseReturnValue:
    """List the logins for admins, optionally of one role."""
    role_arg = request.args.get("role", "")
    stmt = select(User).order_by(User.active.desc(), User.role, User.email)
    if role_arg in set(Role):
        stmt = stmt.where(User.role == Role(role_arg))
    page = db.paginate(stmt, page=page_arg(), per_page=PER_PAGE, error_out=False)
    return render_template(
        "auth/users.html",
        page=page,
        role=role_arg,
        action_form=EmptyForm(),
        role_form=RoleForm(),
        role_labels=ROLE_LABELS,
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_new() -> ResponseReturnValue:
    """Create a staff login and show its set-password link."""
    form = StaffUserForm()
    if form.validate_on_submit():
        try:
            user, token = accounts.create_staff_user(
                form.email.data or "", form.name.data or "", Role(form.role.data)
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            return show_invitation(user, token)
    status = 400 if form.is_submitted() else 200
    return render_template("auth/user_form.html", form=form), status


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@roles(Role.ADMIN)
def user_role(user_id: int) -> ResponseReturnValue:
    """Change a login's role (never one's own)."""
    user = db.get_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            accounts.set_role(user, Role(form.role.data), current_user)
        except ValidationFailed as exc:
            refuse(None, exc)
        else:
            db.session.commit()
            flash(
                _("%(email)s is now %(role)s.", email=user.email, role=ROLE_LABELS[user.role]),
                "success",
            )
    else:
        flash(_("Choose a role."), "error")
    return redirect(url_for("auth.users"))


@bp.route(
    "/users/<int:user_id>/deactivate",
    methods=["POST"],
    endpoint="user_deactivate",
    defaults={"active": False},
)
@bp.route(
    "/users/<int:user_id>/reactivate",
    methods=["POST"],
    endpoint="user_reactivate",
    defaults={"active": True},
)
@roles(Role.ADMIN)
def user_active(user_id: int, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a login (never one's own)."""
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        try:
            accounts.set_user_active(user, active, current_user)
        except ValidationFailed as exc:
            refuse(None, exc)
        else:
            db.session.commit()
            if active:
                flash(_("%(email)s can sign in again.", email=user.email), "success")
            else:
                flash(_("%(email)s can no longer sign in.", email=user.email), "success")
    return redirect(url_for("auth.users"))


@bp.route("/users/<int:user_id>/invite", methods=["POST"])
@roles(Role.ADMIN)
def user_invite(user_id: int) -> ResponseReturnValue:
    """Show a fresh set-password link for a login."""
    user = db.get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("auth.users"))
    try:
        token = accounts.user_invitation(user)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("auth.users"))
    return show_invitation(user, token)
