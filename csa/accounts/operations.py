"""Accounts: checking passwords, ending sessions, invitations and password resets by signed
link, and the staff logins an admin manages (roles, deactivation). The throttle is in
throttle.py.

Everything here only flushes; the view or command that calls it commits once.
"""

from __future__ import annotations

import logging
import re
import secrets

from flask import current_app
from flask_babel import force_locale, format_datetime, ngettext
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import AccountEvent, Member, OutboxMessage, OutboxState, Role, User
from csa.notices import mail, outbox
from csa.notices.recipients import login_locale

INVITE_SALT = "csa-invite"
RESET_SALT = "csa-reset"  # forgot-password links: another salt, so neither passes for the other
# AccountEvent.action values.
RESET_BY_STAFF = "reset"
SET_BY_FORGOT_LINK = "forgot"
STAFF_ROLES = (Role.FARMER, Role.COORDINATOR, Role.ADMIN)
INVITE_MAIL_TIMEOUT = 10  # seconds the invitation page waits for the mail server
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+$")

log = logging.getLogger(__name__)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def valid_email(email: str) -> bool:
    """True for something shaped like name@domain.tld (delivery is the real test)."""
    return bool(EMAIL.match(email))


def _dummy_hash(method: str) -> str:
    """A hash of a random password, made once per method, to check when there is no real one."""
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_urlsafe(16), method=method)
    return _DUMMY_HASHES[method]


_DUMMY_HASHES: dict[str, str] = {}


def mail_locale(user: User) -> str:
    """The language of mails to a login: its person's choice, else its household's, else the
    farm's default (a login has no language until its person picks one)."""
    return login_locale(user)


def authenticate(email: str, password: str) -> User | None:
    """Return the user for these credentials, or None.

    Exactly one hash is computed whatever the account's state (none, no password yet,
    deactivated), with the method of real ones, so the time taken tells nothing.
    """
    email = normalise_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    stored = user.password_hash if user is not None and user.password_hash else ""
    matches = check_password_hash(
        stored or _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password
    )
    if user is None or not stored or not user.active or not matches:
        return None
    return user


def end_sessions(user: User) -> None:
    """Sign the login out everywhere: every session and remember cookie names the old version.

    Set-password and forgot-password links die with it (they carry the version too).
    """
    user.session_version = User.session_version + 1
    db.session.flush()
    db.session.refresh(user, ["session_version"])


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
    """Set a new password; every session of the login ends (a stolen cookie with it)."""
    if len(password) < 8:
        raise ValidationFailed(_("The password must have at least 8 characters."))
    user.set_password(password, current_app.config["PASSWORD_HASH_METHOD"])
    if user.id is not None:
        end_sessions(user)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=INVITE_SALT)


def _state(user: User) -> list[object]:
    """What a link is bound to: the password hash's tail and the session version.

    Setting a password changes both, ending sessions changes the second, so a link works
    once and dies with a password change, a reset or a sign-out everywhere.
    """
    return [user.id, user.password_hash[-12:], user.session_version]


def invite_token(user: User) -> str:
    """A signed token naming the user and its current state, so it works once."""
    return _serializer().dumps(_state(user))


def _user_from_token(serializer: URLSafeTimedSerializer, token: str, max_age: int) -> User | None:
    try:
        state = serializer.loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    if not isinstance(state, list) or len(state) != 3 or not isinstance(state[0], int):
        return None
    user = db.session.get(User, state[0])
    if user is None or not user.active or _state(user) != state:
        return None
    return user


def user_from_invite(token: str) -> User | None:
    """Return the invited user if the token is valid, unexpired and not used yet."""
    return _user_from_token(_serializer(), token, int(current_app.config["INVITE_MAX_AGE_SECONDS"]))


def invite_member(member: Member) -> User:
    """Give a member household a login (or reuse one without a password) to set by link.

    The login is the household's contact: the one with the household's e-mail
    (csa/accounts/household.py).
    """
    existing = db.session.scalar(select(User).where(User.email == member.email))
    if existing is not None:
        if existing.member_id not in (None, member.id):
            raise ValidationFailed(_("%(email)s belongs to another account.", email=member.email))
        _require_password_unset(existing)
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
    with force_locale(mail_locale(user)):
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


def deliver_now(key: str | None) -> tuple[bool, str | None]:
    """Deliver one queued link mail now, after the commit: (mailed, the problem or None).

    A refused or unreachable server leaves the message queued; the scheduler tries again.
    """
    if key is None:
        return False, None
    report = outbox.deliver(keys=[key], timeout=INVITE_MAIL_TIMEOUT)
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    if row is None or row.state == OutboxState.SENT:
        return row is not None, None
    error = row.last_error or report.stopped
    log.warning("mail %s to %s not sent yet: %s", key, row.to, error)
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
    if not active:
        end_sessions(user)  # so reactivating it later revives no old cookie
    db.session.flush()


def user_invitation(user: User) -> str:
    """Return a fresh set-password token for an active login that has no password yet."""
    if not user.active:
        raise ValidationFailed(
            _("The login %(email)s is deactivated; reactivate it first.", email=user.email)
        )
    _require_password_unset(user)
    return invite_token(user)


def _require_password_unset(user: User) -> None:
    """An invitation is for a login without a password; replacing one is a reset (audited)."""
    if user.password_hash:
        raise ValidationFailed(
            _(
                "%(email)s has a password already; use “Reset password” to give it a new one.",
                email=user.email,
            )
        )


# --- password resets ----------------------------------------------------------------------------


def reset_password(user: User, acting: User) -> tuple[str, AccountEvent]:
    """Clear a login's password on a staff member's word, end its sessions, record who did it.

    Return a set-password token for the owner and the log row. Only an admin resets a staff
    login (the link sets that login's password).
    """
    if not user.active:
        raise ValidationFailed(
            _("The login %(email)s is deactivated; reactivate it first.", email=user.email)
        )
    if user.role != Role.MEMBER and acting.role != Role.ADMIN:
        raise ValidationFailed(
            _("%(email)s is a staff login; only an admin can reset it.", email=user.email)
        )
    user.password_hash = ""
    end_sessions(user)
    event = AccountEvent(user_id=user.id, by_id=acting.id, action=RESET_BY_STAFF)
    db.session.add(event)
    db.session.flush()
    return invite_token(user), event


def mail_reset_notice(user: User, event: AccountEvent, link: str) -> str:
    """Queue the mail telling the owner who reset the password and when, with the new link.

    Only queues (the caller commits, then delivers with `deliver_now`); the link is stored
    sealed, and a staff login's notice is listed for admins only. Returns the outbox key.
    """
    by = event.by.name or event.by.email if event.by is not None else "?"
    with force_locale(mail_locale(user)):
        subject = _("Your password was reset")
        body = ngettext(
            "Hello %(name)s,\n\n%(by)s reset the password of your login %(email)s on "
            "%(when)s. The old password no longer works and every session was signed out.\n\n"
            "Choose a new password with this link (valid for %(num)d day):\n%(link)s\n\n"
            "If you did not ask for this, tell the farm.",
            "Hello %(name)s,\n\n%(by)s reset the password of your login %(email)s on "
            "%(when)s. The old password no longer works and every session was signed out.\n\n"
            "Choose a new password with this link (valid for %(num)d days):\n%(link)s\n\n"
            "If you did not ask for this, tell the farm.",
            invite_days(),
            name=user.name or user.email,
            by=by,
            email=user.email,
            when=format_datetime(event.at, "short"),
            link=link,
        )
    key = f"reset/{user.id}/{event.id}"
    mail.send(key, user.email, subject, body, redact=[link], admin_only=user.role in STAFF_ROLES)
    return key


def password_events(user: User, limit: int = 10) -> list[AccountEvent]:
    """The login's latest password events, newest first, for the reset page."""
    return list(
        db.session.scalars(
            select(AccountEvent)
            .where(AccountEvent.user_id == user.id)
            .order_by(AccountEvent.at.desc(), AccountEvent.id.desc())
            .limit(limit)
        )
    )


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def reset_token(user: User) -> str:
    """A forgot-password token: signed, expiring, bound to the login's state (single use)."""
    return _reset_serializer().dumps(_state(user))


def user_from_reset(token: str) -> User | None:
    """Return the login a forgot-password token is for, if valid, unexpired and unused."""
    return _user_from_token(
        _reset_serializer(), token, int(current_app.config["RESET_MAX_AGE_SECONDS"])
    )


def reset_minutes() -> int:
    return max(1, int(current_app.config["RESET_MAX_AGE_SECONDS"]) // 60)


def mail_reset_link(user: User, link: str) -> str:
    """Queue a forgot-password link mail (sealed, like every link) and return its outbox key."""
    with force_locale(mail_locale(user)):
        subject = _("A new password for your farm login")
        body = ngettext(
            "Hello %(name)s,\n\nsomeone (we hope you) asked for a new password for %(email)s. "
            "Choose one with this link, within %(num)d minute; it works once:\n%(link)s\n\n"
            "If it was not you, ignore this message: your password stays as it is.",
            "Hello %(name)s,\n\nsomeone (we hope you) asked for a new password for %(email)s. "
            "Choose one with this link, within %(num)d minutes; it works once:\n%(link)s\n\n"
            "If it was not you, ignore this message: your password stays as it is.",
            reset_minutes(),
            name=user.name or user.email,
            email=user.email,
            link=link,
        )
    # Two requests within a second get the same token; each request is its own message.
    key = f"forgot/{user.id}/{secrets.token_urlsafe(9)}"
    mail.send(key, user.email, subject, body, redact=[link], admin_only=user.role in STAFF_ROLES)
    return key


def login_for_reset(email: str) -> User | None:
    """The active login a forgot-password request names, or None."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    return user if user is not None and user.active else None


def password_set_by_link(user: User, password: str) -> None:
    """Set the password from a forgot-password link and record it (the link dies with it)."""
    set_password(user, password)
    db.session.add(AccountEvent(user_id=user.id, by_id=None, action=SET_BY_FORGOT_LINK))
    db.session.flush()
