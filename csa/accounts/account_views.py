"""My account: every login's own profile, password and e-mail address, in three sections
reached in one tap, and the language switch every page carries (base.html).

Changing the password or the address asks for the current password, counted by the
sign-in throttle (csa/accounts/throttle.py), so a borrowed session cannot guess it faster
than the sign-in page allows.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm

from csa.accounts import household, profile, throttle
from csa.accounts import operations as accounts
from csa.accounts.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    CoMemberForm,
    LanguageForm,
    ProfileForm,
    RemoveLoginForm,
)
from csa.accounts.views import too_many
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Role, User
from csa.ui.access import ANY_USER, public, roles, safe_next
from csa.ui.args import parse_id
from csa.ui.forms import EmptyForm, flash_errors, options, refuse
from csa.ui.languages import language_choices, remember_choice

bp = Blueprint("account", __name__)


def _me() -> User:
    return current_user._get_current_object()


def _status(form: FlaskForm) -> int:
    """A form sent back with its errors answers 400."""
    return 400 if form.is_submitted() else 200


def _count_password_attempt() -> float:
    """Count a check of the current password like a sign-in; commit it before checking."""
    wait = throttle.take_login(current_user.email, request.remote_addr or "?")
    db.session.commit()
    return wait


def _password_was_right() -> None:
    throttle.login_succeeded(current_user.email, request.remote_addr or "?")


@bp.route("/", methods=["GET", "POST"])
@roles(*ANY_USER)
def profile_page() -> ResponseReturnValue:
    """Name, phone and language of the login (a household contact's phone is the household's)."""
    user = _me()
    form = ProfileForm()
    form.locale.choices = options(language_choices(user.locale))
    if not form.is_submitted():
        contact = profile.is_household_contact(user)
        form.name.data = user.name
        form.phone.data = user.phone or (user.member.phone if contact and user.member else "")
        form.locale.data = user.locale or str(get_locale())
        form.notices.data = user.notices
    if form.validate_on_submit():
        try:
            profile.update_profile(
                user,
                form.name.data or "",
                form.phone.data or "",
                form.locale.data or "",
                notices=bool(form.notices.data),
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("account.profile_page"))
    return render_template(
        "account/profile.html",
        form=form,
        section="profile",
        contact=profile.is_household_contact(user),
    ), _status(form)


@bp.route("/password", methods=["GET", "POST"])
@roles(*ANY_USER)
def password() -> ResponseReturnValue:
    """Change the password; every other session of the login ends, this one goes on."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        wait = _count_password_attempt()
        if wait:
            return too_many("account/password.html", form, wait, section="password")
        user = _me()
        try:
            profile.change_password(user, form.current.data or "", form.password.data or "")
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            _password_was_right()
            db.session.commit()
            # The session version moved on: sign this browser in again under the new one,
            # keeping "keep me signed in" if it was on.
            remember = (
                current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
            )
            login_user(user, remember=remember)
            flash(_("Your password is changed; every other session was signed out."), "success")
            return redirect(url_for("account.password"))
    return render_template("account/password.html", form=form, section="password"), _status(form)


@bp.route("/email", methods=["GET", "POST"])
@roles(*ANY_USER)
def email() -> ResponseReturnValue:
    """Ask for a new sign-in address; it counts once the link sent to it is opened."""
    form = ChangeEmailForm()
    if form.validate_on_submit():
        wait = _count_password_attempt()
        if wait:
            return too_many("account/email.html", form, wait, section="email")
        user = _me()
        try:
            new = profile.check_new_email(user, form.email.data or "", form.current.data or "")
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            _password_was_right()
            token = profile.email_token(user, new)
            link = url_for("account.confirm_email", token=token, _external=True)
            key = profile.mail_email_link(user, new, link)
            db.session.commit()
            _mailed, problem = accounts.deliver_now(key)
            if problem:
                flash(problem, "warning")
            # The same words whether or not the address is someone else's (that address is
            # told instead), so this page never reveals who has a login.
            flash(
                _(
                    "A link is on its way to %(email)s. Your address changes when you open it "
                    "(within %(hours)s hours); until then you sign in with %(old)s.",
                    email=new,
                    hours=profile.email_link_hours(),
                    old=user.email,
                ),
                "info",
            )
            return redirect(url_for("account.email"))
    return render_template("account/email.html", form=form, section="email"), _status(form)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
@public
def confirm_email(token: str) -> ResponseReturnValue:
    """Open the link sent to a new address: a button confirms (a mail scanner's GET does not)."""
    found = profile.email_change_from(token)
    if found is None:
        abort(404)
    user, new = found
    form = EmptyForm()
    status = 200
    if form.validate_on_submit():
        try:
            profile.apply_email_change(user, new)
        except ValidationFailed as exc:
            refuse(None, exc)
            status = 409
        else:
            db.session.commit()
            flash(_("You sign in with %(email)s from now on.", email=new), "success")
            if current_user.is_authenticated and current_user.id == user.id:
                return redirect(url_for("account.email"))
            return redirect(url_for("auth.login"))
    return render_template("account/confirm_email.html", form=form, user=user, new=new), status


@bp.route("/language", methods=["POST"])
@public
def language() -> ResponseReturnValue:
    """The language switch: kept on the login when signed in, else in this browser's session."""
    form = LanguageForm()
    form.locale.choices = options(language_choices())
    back = safe_next(form.next.data) or url_for("main.index")
    if form.validate_on_submit():
        code = form.locale.data or ""
        if current_user.is_authenticated:
            try:
                profile.set_language(_me(), code)
            except ValidationFailed as exc:
                refuse(None, exc)
                return redirect(back)
            db.session.commit()
        remember_choice(code)
    else:
        flash_errors(form)
    return redirect(back)


# --- the household's logins (csa/accounts/household.py) ------------------------------------


def _household_page(form: CoMemberForm, status: int) -> ResponseReturnValue:
    user = _me()
    member = user.member
    return render_template(
        "account/household.html",
        form=form,
        remove_form=RemoveLoginForm(formdata=None),
        section="household",
        me=user,
        member=member,
        contact=household.contact_of(member) if member is not None else None,
        co_members=household.co_members(member) if member is not None else [],
        is_contact=household.is_contact(user),
    ), status


@bp.route("/household", methods=["GET", "POST"])
@roles(Role.MEMBER)
def household_page() -> ResponseReturnValue:
    """The household's logins; its contact invites co-members here (a link by e-mail)."""
    form = CoMemberForm()
    if form.validate_on_submit():
        user = _me()
        try:
            invited = household.invite_co_member(user, form.name.data or "", form.email.data or "")
            token = accounts.invite_token(invited)
            link = url_for("auth.set_password", token=token, _external=True)
            key = accounts.mail_invitation(invited, link, token)
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            _mailed, problem = accounts.deliver_now(key)
            if problem:
                flash(problem, "warning")
            flash(
                _(
                    "%(name)s is invited: a link to set a password is on its way to %(email)s.",
                    name=invited.name,
                    email=invited.email,
                ),
                "success",
            )
            return redirect(url_for("account.household_page"))
    return _household_page(form, _status(form))


@bp.route("/household/remove", methods=["POST"])
@roles(Role.MEMBER)
def household_remove() -> ResponseReturnValue:
    """The contact removes a co-member, or a co-member leaves (its own login): signed out."""
    form = RemoveLoginForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _household_page(CoMemberForm(formdata=None), 400)
    user = _me()
    login_id = parse_id(form.login.data)
    try:
        if login_id == user.id:
            household.leave_household(user)
            gone = user
        else:
            gone = household.remove_co_member(user, login_id if login_id is not None else -1)
    except ValidationFailed as exc:
        refuse(None, exc)
        return _household_page(CoMemberForm(formdata=None), 400)
    name = gone.name or gone.email
    db.session.commit()
    if gone is user:
        logout_user()
        flash(_("You left the household; your login is closed."), "success")
        return redirect(url_for("auth.login"))
    flash(
        _(
            "%(name)s is no longer a login of your household. Your calendar feed has a new "
            "address (My share, Settings): subscribe to it again.",
            name=name,
        ),
        "success",
    )
    return redirect(url_for("account.household_page"))
