"""Login, logout, setting a password from an invitation link, and the logins an admin manages."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from csa.accounts import operations as accounts
from csa.accounts.forms import ROLE_LABELS, LoginForm, RoleForm, SetPasswordForm, StaffUserForm
from csa.accounts.invitations import show_invitation
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Role, User
from csa.ui.access import ANY_USER, public, roles, safe_next
from csa.ui.forms import EmptyForm, refuse

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = accounts.normalise_email(form.email.data or "")
        address = request.remote_addr or "?"
        if accounts.too_many_failures(email, address):
            flash(_("Too many failed sign-ins. Wait a quarter of an hour and try again."), "error")
            return render_template("auth/login.html", form=form), 429
        user = accounts.authenticate(email, form.password.data or "", address)
        db.session.commit()
        if user is None:
            flash(_("Wrong e-mail or password."), "error")
            return render_template("auth/login.html", form=form), 200
        login_user(user, remember=bool(form.remember.data))
        return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@roles(*ANY_USER)
def logout() -> ResponseReturnValue:
    if EmptyForm().validate_on_submit():
        logout_user()
        flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


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
    page = db.paginate(stmt, per_page=PER_PAGE, error_out=False)
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
