"""Login, logout and setting a password from an invitation link."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from csa.accounts import operations as accounts
from csa.accounts.forms import LoginForm, SetPasswordForm
from csa.errors import ValidationFailed
from csa.extensions import db
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
