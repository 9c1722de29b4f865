"""A person's own account: name, phone and language, password, e-mail address.

A login tied to a household and sharing its e-mail is the household's *contact*: its phone
and language are the household's too (the register, the pickup list and the round notices
use them). A new e-mail address counts only once a link sent to it is opened: the link is
signed, expires, names the old and the new address (so it works once) and is stored sealed
in the outbox like every link that grants something. Whether the new address belongs to
someone else is never said on screen: that address gets a mail saying so instead.

Everything here only flushes; the view commits once.
"""

from __future__ import annotations

import secrets

from flask import current_app
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, or_, select

from csa.accounts import household
from csa.accounts.operations import (
    STAFF_ROLES,
    mail_locale,
    normalise_email,
    set_password,
    valid_email,
)
from csa.core.clock import utcnow
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import AccountEvent, Member, User
from csa.notices import mail

EMAIL_SALT = "csa-email-change"
# AccountEvent.action values of this module (csa/accounts/operations.py has the others).
PASSWORD_CHANGED = "changed"  # noqa: S105 - an event name, not a password
EMAIL_CHANGED = "email"


def is_household_contact(user: User) -> bool:
    """True for the household's own login (same e-mail): its phone and language are shared."""
    return household.is_contact(user)


def _require_language(code: str) -> str:
    if code not in current_app.config["LANGUAGES"]:
        raise FieldError("locale", _("Choose one of the languages offered."))
    return code


def set_language(user: User, code: str) -> None:
    """The person's language for the site (and its household's, for a contact login)."""
    user.locale = _require_language(code)
    if is_household_contact(user):
        assert user.member is not None
        user.member.locale = user.locale
    db.session.flush()


def update_profile(
    user: User, name: str, phone: str, code: str, notices: bool | None = None
) -> None:
    """Save the login's name, phone and language; a contact's phone is the household's too.

    :param notices: whether the household's notices are mailed to this login (None: as is;
        only a household's login has the choice).
    """
    if not name:
        raise FieldError("name", _("Give a name."))
    _require_language(code)
    user.name = name
    user.phone = phone
    if notices is not None and user.member is not None:
        user.notices = notices
    if is_household_contact(user):
        assert user.member is not None
        user.member.phone = phone
    set_language(user, code)


def _require_current(user: User, password: str) -> None:
    if not user.check_password(password):
        raise FieldError("current", _("That is not your current password."))


def _farm_mail(user: User, key: str, to: str, subject: str, body: str) -> str:
    """Queue a notice without a link (nothing to seal); staff logins' mail is admins' only."""
    mail.send(key, to, subject, body, admin_only=user.role in STAFF_ROLES)
    return key


def change_password(user: User, current: str, new: str) -> str:
    """Check the current password, set the new one, end every session, tell the owner.

    The caller signs the person's own session in again. Returns the notice's outbox key.
    """
    _require_current(user, current)
    if current == new:
        raise FieldError("password", _("Choose a password other than the current one."))
    try:
        set_password(user, new)
    except ValidationFailed as exc:
        raise FieldError("password", str(exc)) from exc
    event = AccountEvent(user_id=user.id, by_id=user.id, action=PASSWORD_CHANGED)
    db.session.add(event)
    db.session.flush()
    with force_locale(mail_locale(user)):
        subject = _("Your password was changed")
        body = _(
            "Hello %(name)s,\n\nthe password of your login %(email)s was changed on %(when)s, "
            "and every other session was signed out.\n\nIf it was not you, choose a new one "
            "with “Forgot your password?” on the sign-in page and tell the farm.",
            name=user.name or user.email,
            email=user.email,
            when=format_datetime(event.at, "short"),
        )
    return _farm_mail(user, f"password-changed/{user.id}/{event.id}", user.email, subject, body)


# --- a new e-mail address, confirmed by a link sent to it --------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=EMAIL_SALT)


def email_link_hours() -> int:
    return max(1, int(current_app.config["EMAIL_CHANGE_MAX_AGE_SECONDS"]) // 3600)


def _taken(email: str, user: User) -> bool:
    """True if another login or another household has this address."""
    other_login = select(User.id).where(func.lower(User.email) == email, User.id != user.id)
    other_household = select(Member.id).where(func.lower(Member.email) == email)
    if user.member_id is not None:
        other_household = other_household.where(Member.id != user.member_id)
    return bool(db.session.scalar(select(or_(other_login.exists(), other_household.exists()))))


def check_new_email(user: User, email: str, current: str) -> str:
    """The new address, normalised, if it may be asked for; else a FieldError.

    Whether another login has it is not checked here: the answer must not tell.
    """
    email = normalise_email(email)
    if not valid_email(email):
        raise FieldError("email", _("%(email)s is not an e-mail address.", email=email))
    if email == user.email:
        raise FieldError("email", _("That is the address you sign in with already."))
    _require_current(user, current)
    return email


def email_token(user: User, email: str) -> str:
    """A signed link token naming the login, its current and its new address (works once)."""
    return _serializer().dumps([user.id, user.email, email, user.session_version])


def mail_email_link(user: User, email: str, link: str) -> str:
    """Queue the mail to the new address: the confirmation link, or, if the address has a
    login or household already, a word that nothing changed. Returns the outbox key."""
    key = f"email-change/{user.id}/{secrets.token_urlsafe(9)}"
    with force_locale(mail_locale(user)):
        if _taken(email, user):
            subject = _("This address has a login at the farm already")
            body = _(
                "Hello,\n\nsomeone signed in as %(old)s asked to move that login to this "
                "address, %(email)s. This address belongs to a login or household of the farm "
                "already, so nothing was changed.\n\nIf you forgot your password, use "
                "“Forgot your password?” on the sign-in page.",
                old=user.email,
                email=email,
            )
            return _farm_mail(user, key, email, subject, body)
        subject = _("Confirm your new e-mail address")
        body = _(
            "Hello %(name)s,\n\nto sign in with %(email)s from now on instead of %(old)s, open "
            "this link within %(hours)s hours; it works once:\n%(link)s\n\nIf you did not ask "
            "for this, ignore this message: nothing changes.",
            name=user.name or user.email,
            email=email,
            old=user.email,
            hours=email_link_hours(),
            link=link,
        )
    mail.send(key, email, subject, body, redact=[link], admin_only=user.role in STAFF_ROLES)
    return key


def email_change_from(token: str) -> tuple[User, str] | None:
    """(login, new address) of a valid, unexpired, unused confirmation token, else None."""
    try:
        state = _serializer().loads(
            token, max_age=int(current_app.config["EMAIL_CHANGE_MAX_AGE_SECONDS"])
        )
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    if not isinstance(state, list) or len(state) != 4 or not isinstance(state[0], int):
        return None
    user = db.session.get(User, state[0])
    if user is None or not user.active:
        return None
    if [user.id, user.email, state[2], user.session_version] != state:
        return None  # used already, or the login changed since
    return user, str(state[2])


def apply_email_change(user: User, email: str) -> str:
    """Move the login (and, for a contact, its household) to the confirmed address; tell the
    old address. Returns the notice's outbox key."""
    if _taken(email, user):
        raise ValidationFailed(
            _(
                "%(email)s belongs to another login or household now; nothing was changed.",
                email=email,
            )
        )
    old = user.email
    if is_household_contact(user):
        assert user.member is not None
        user.member.email = email
    user.email = email
    event = AccountEvent(user_id=user.id, by_id=user.id, action=EMAIL_CHANGED, at=utcnow())
    db.session.add(event)
    db.session.flush()
    with force_locale(mail_locale(user)):
        subject = _("The e-mail of your farm login was changed")
        body = _(
            "Hello %(name)s,\n\nthe login %(old)s signs in with %(email)s from %(when)s on. "
            "Mail from the farm goes there too.\n\nIf it was not you, tell the farm at once.",
            name=user.name or email,
            old=old,
            email=email,
            when=format_datetime(event.at, "short"),
        )
    return _farm_mail(user, f"email-changed/{user.id}/{event.id}", old, subject, body)
