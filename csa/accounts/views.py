"""Login, logout, setting a password from an invitation link, and the logins an admin manages."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from csa.accounts import operations as accounts
from csa.accounts.forms import ROLE_LABELS, LoginForm, RoleForm, SetPasswordForm, StaffUserForm
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Role, User
from csa.ui.access import ANY_USER, public, roles, safe_next
from csa.ui.forms import EmptyForm

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


def _fail(form: FlaskForm | None, exc: ValidationFailed) -> None:
    """Undo what the operation started and show its message next to the field it names."""
    db.session.rollback()
    field = getattr(exc, "field", None)
    if form is not None and field and field in form:
        form[field].errors = [*form[field].errors, str(exc)]
    else:
        flash(str(exc), "error")


def _show_invitation(user: User, token: str) -> ResponseReturnValue:
    """Show the link on screen (it is never put in a URL) and e-mail it when mail is set up."""
    link = url_for("auth.set_password", token=token, _external=True)
    mailed, problem = accounts.deliver_invitation(user, link, token)
    if problem:
        flash(problem, "warning")
    db.session.commit()
    return render_template(
        "auth/invite.html",
        user=user,
        link=link,
        mailed=mailed,
        member=user.member,
        invite_days=accounts.invite_days(),
    )


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
            _fail(form, exc)
        else:
            return _show_invitation(user, token)
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
            _fail(None, exc)
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
            _fail(None, exc)
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
        _fail(None, exc)
        return redirect(url_for("auth.users"))
    return _show_invitation(user, token)
