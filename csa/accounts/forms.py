"""Forms of the accounts: signing in, setting a password, and the staff logins."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from csa.accounts.operations import STAFF_ROLES
from csa.models import Role
from csa.ui.forms import InputForm, options

ROLE_LABELS = {
    Role.MEMBER: _l("member"),
    Role.FARMER: _l("farmer"),
    Role.COORDINATOR: _l("coordinator"),
    Role.ADMIN: _l("admin"),
}


class LoginForm(InputForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me signed in"))
    submit = SubmitField(_l("Sign in"))


class ForgotPasswordForm(InputForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    submit = SubmitField(_l("Send me a link"))


class SetPasswordForm(InputForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8)])
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )
    submit = SubmitField(_l("Set password"))


class StaffUserForm(InputForm):
    """A farmer, coordinator or admin login, invited by link."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Length(max=200)])
    role = SelectField(
        _l("Role"),
        choices=options([(r.value, ROLE_LABELS[r]) for r in STAFF_ROLES]),
        default=Role.FARMER.value,
    )
    submit = SubmitField(_l("Create and show the invitation link"))


class RoleForm(InputForm):
    """The role of one login."""

    role = SelectField(
        _l("Role"), choices=options([(r.value, label) for r, label in ROLE_LABELS.items()])
    )
    submit = SubmitField(_l("Change role"))


# --- a person's own account ----------------------------------------------------------------


class ProfileForm(InputForm):
    """A login's own name, phone and language (choices from csa/ui/languages.py)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[Length(max=50)])
    locale = SelectField(_l("Language"))
    # Shown to a household's logins only (csa/notices/recipients.py reads it).
    notices = BooleanField(_l("E-mail me the household's notices"))
    submit = SubmitField(_l("Save"))


class ChangePasswordForm(InputForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )
    submit = SubmitField(_l("Change password"))


class ChangeEmailForm(InputForm):
    email = EmailField(_l("New e-mail"), validators=[DataRequired(), Length(max=254)])
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    submit = SubmitField(_l("Send a confirmation link"))


class LanguageForm(InputForm):
    """The language switch on every page (base.html)."""

    locale = SelectField(_l("Language"))
    next = HiddenField()
    submit = SubmitField(_l("Use this language"))


# --- a household's logins (csa/accounts/household.py) --------------------------------------


class CoMemberForm(InputForm):
    """The contact invites a partner or flatmate: a login of its own, set by link."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    submit = SubmitField(_l("Invite"))


class RemoveLoginForm(InputForm):
    """Remove a co-member (the contact), or leave the household (a co-member, its own id)."""

    login = HiddenField(_l("Login"), validators=[DataRequired()])
