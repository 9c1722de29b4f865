"""Accounts: login throttling counted in the database, invitations by signed link."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select

from csa.core.clock import utcnow
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import LoginAttempt, Member, Role, User

INVITE_SALT = "csa-invite"


def normalise_email(email: str) -> str:
    return email.strip().lower()


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
