"""Accounts: login throttling counted in the database, invitations by signed link, and the
staff logins an admin manages (roles, deactivation).

Everything here only flushes; the view or command that calls it commits once.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select

from csa.core.clock import utcnow
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import LoginAttempt, Member, OutboxMessage, OutboxState, Role, User
from csa.notices import mail, outbox

INVITE_SALT = "csa-invite"
STAFF_ROLES = (Role.FARMER, Role.COORDINATOR, Role.ADMIN)
INVITE_MAIL_TIMEOUT = 10  # seconds the invitation page waits for the mail server
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")

log = logging.getLogger(__name__)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def valid_email(email: str) -> bool:
    """True for something shaped like name@domain.tld (delivery is the real test)."""
    return bool(EMAIL.match(email))


def too_many_failures(email: str, address: str) -> bool:
    """True when this account or this address failed too often in the window."""
    cfg = current_app.config
    since = utcnow() - timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"])
    by_email = db.session.scalar(
        select(func.count()).where(LoginAttempt.email == email, LoginAttempt.at >= since)
    )
    by_address = db.session.scalar(
        select(func.count()).where(LoginAttempt.address == address, LoginAttempt.at >= since)
    )
    return (by_email or 0) >= cfg["LOGIN_MAX_FAILURES_ACCOUNT"] or (by_address or 0) >= cfg[
        "LOGIN_MAX_FAILURES_ADDRESS"
    ]


def authenticate(email: str, password: str, address: str) -> User | None:
    """Return the user for these credentials, or None; failures are recorded."""
    email = normalise_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None and user.active and user.check_password(password):
        db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))
        return user
    db.session.add(LoginAttempt(email=email, address=address))
    return None


def create_user(
    email: str,
    role: Role,
    password: str | None = None,
    name: str = "",
    member: Member | None = None,
) -> User:
    """Create a login; without a password it can only be used through an invitation link."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValidationFailed(_("Not an e-mail address: %(email)s", email=email))
    if db.session.scalar(select(User).where(User.email == email)):
        raise ValidationFailed(_("A user with the e-mail %(email)s exists already.", email=email))
    user = User(email=email, role=role, name=name or email, member=member)
    if password is not None:
        set_password(user, password)
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < 8:
        raise ValidationFailed(_("The password must have at least 8 characters."))
    user.set_password(password, current_app.config["PASSWORD_HASH_METHOD"])


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=INVITE_SALT)


def invite_token(user: User) -> str:
    """A signed token naming the user and its current password hash, so it works once."""
    return _serializer().dumps([user.id, user.password_hash[-12:]])


def user_from_invite(token: str) -> User | None:
    """Return the invited user if the token is valid, unexpired and not used yet."""
    try:
        user_id, fingerprint = _serializer().loads(
            token, max_age=current_app.config["INVITE_MAX_AGE_SECONDS"]
        )
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.password_hash[-12:] != fingerprint:
        return None
    return user


def invite_member(member: Member) -> User:
    """Give a member household a login (or reuse it) that must set its password by link."""
    if member.user is not None:
        return member.user
    existing = db.session.scalar(select(User).where(User.email == member.email))
    if existing is not None:
        if existing.member_id not in (None, member.id):
            raise ValidationFailed(_("%(email)s belongs to another account.", email=member.email))
        existing.member = member
        return existing
    return create_user(member.email, Role.MEMBER, name=member.name, member=member)


def invite_days() -> int:
    """How many days an invitation link works, for the texts that say so."""
    return max(1, int(current_app.config["INVITE_MAX_AGE_SECONDS"]) // 86400)


def mail_invitation(user: User, link: str, token: str) -> str:
    """Queue the set-password mail once per token and return its outbox key.

    Only queues (the caller commits, then delivers): the link is stored sealed, never
    readable, and a staff login's invitation is listed for admins only.
    """
    locale = user.member.locale if user.member is not None else user.locale
    with force_locale(locale):
        subject = _("Your login for the farm")
        body = ngettext(
            "Hello %(name)s,\n\nset your password with this link (valid for %(num)d day):\n"
            "%(link)s\n\nThen sign in with %(email)s.",
            "Hello %(name)s,\n\nset your password with this link (valid for %(num)d days):\n"
            "%(link)s\n\nThen sign in with %(email)s.",
            invite_days(),
            name=user.name or user.email,
            link=link,
            email=user.email,
        )
    key = f"invite/{user.id}/{token[-8:]}"
    mail.send(
        key, user.email, subject, body, redact=[link, token], admin_only=user.role in STAFF_ROLES
    )
    return key


def deliver_invitation(key: str | None) -> tuple[bool, str | None]:
    """Deliver a queued invitation now, after the commit: (mailed, the problem to show or None).

    A refused or unreachable server leaves the message queued; the scheduler tries again.
    """
    if key is None:
        return False, None
    report = outbox.deliver(keys=[key], timeout=INVITE_MAIL_TIMEOUT)
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    if row is None or row.state == OutboxState.SENT:
        return row is not None, None
    error = row.last_error or report.stopped
    log.warning("invitation to %s not sent yet: %s", row.to, error)
    return False, _(
        "The e-mail could not be sent yet (%(error)s); it will be tried again. "
        "Pass the link on yourself if it is urgent.",
        error=error or _("no answer"),
    )


# --- staff logins -----------------------------------------------------------------------------


def create_staff_user(email: str, name: str, role: Role) -> tuple[User, str]:
    """Create a farmer, coordinator or admin login and return it with its invitation token."""
    if role not in STAFF_ROLES:
        raise FieldError("role", _("Choose a staff role."))
    email = normalise_email(email)
    if not valid_email(email):
        raise FieldError("email", _("%(email)s is not an e-mail address.", email=email))
    if db.session.scalar(select(User).where(func.lower(User.email) == email)):
        raise FieldError("email", _("A login with the e-mail %(email)s exists.", email=email))
    user = create_user(email, role, name=name.strip())
    return user, invite_token(user)


def set_role(user: User, role: Role, acting: User) -> None:
    """Change a login's role; nobody demotes themselves, so an admin always remains."""
    if user.id == acting.id and role != user.role:
        raise ValidationFailed(_("You cannot change your own role."))
    if role == Role.MEMBER and user.member is None:
        raise ValidationFailed(
            _("Only a login tied to a member household can have the member role.")
        )
    user.role = role
    db.session.flush()


def set_user_active(user: User, active: bool, acting: User) -> None:
    """Deactivate or reactivate a login; nobody locks themselves out."""
    if user.id == acting.id and not active:
        raise ValidationFailed(_("You cannot deactivate your own login."))
    user.active = active
    db.session.flush()


def user_invitation(user: User) -> str:
    """Return a fresh set-password token for an active login."""
    if not user.active:
        raise ValidationFailed(
            _("The login %(email)s is deactivated; reactivate it first.", email=user.email)
        )
    return invite_token(user)
