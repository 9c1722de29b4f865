"""A household's logins: its contact and its co-members (partners, flatmates).

Every login of a household sees its share and may put its holds; each has its own e-mail,
password and language. The household's *contact* is the login whose e-mail is the
household's (csa/accounts/profile.py shares its phone and language with the household): it
alone invites and removes co-members. A coordinator makes another login the contact by
giving the household that login's address (csa/register/operations.update_member).

A removed co-member's login (or one that leaves) is deactivated, untied from the household
and signed out, and the household's calendar feed moves to a new private address (the old
one was on the login's My share). The login is never deleted: SQLite may give a deleted
login's id to the next one, and an old invitation link names the id. Such a login's address
can be invited again, by any household: it gets a fresh set-password link, as a new login
would.

Everything here only flushes; the view commits once.
"""

from __future__ import annotations

import secrets

from flask_babel import gettext as _
from sqlalchemy import func, select

from csa.accounts.operations import create_user, end_sessions, normalise_email, valid_email
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import Member, Role, User


def contact_of(member: Member) -> User | None:
    """The household's contact: its login with the household's e-mail, if it has one."""
    email = normalise_email(member.email)
    return next((u for u in member.users if normalise_email(u.email) == email), None)


def is_contact(user: User) -> bool:
    """True for the login whose e-mail is its household's."""
    return user.member is not None and contact_of(user.member) is user


def co_members(member: Member) -> list[User]:
    """The household's logins other than its contact, oldest first."""
    contact = contact_of(member)
    return [u for u in member.users if u is not contact]


def in_use_message(email: str) -> str:
    """The one answer for an address that is taken, whoever has it (it names nobody)."""
    return _("%(email)s belongs to a login or household of the farm already.", email=email)


def _require_contact(user: User) -> Member:
    if user.member is None or not is_contact(user):
        raise ValidationFailed(_("Only the household's contact can change its logins."))
    return user.member


def _removed_login(email: str) -> User | None:
    """A member login removed from its household (inactive, untied): its address is free."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is not None and user.member_id is None and not user.active:
        return user if user.role == Role.MEMBER else None
    return None


def _address_free(email: str) -> bool:
    login = select(User.id).where(func.lower(User.email) == email)
    household = select(Member.id).where(func.lower(Member.email) == email)
    return not db.session.scalar(select(login.exists() | household.exists()))


def invite_co_member(acting: User, name: str, email: str) -> User:
    """Give a new co-member a login tied to the contact's household, to set by link.

    Refused, with words that name no household, when any login or household has the address.
    """
    member = _require_contact(acting)
    name = name.strip()
    email = normalise_email(email)
    if not name:
        raise FieldError("name", _("Give a name."))
    if not valid_email(email):
        raise FieldError("email", _("%(email)s is not an e-mail address.", email=email))
    removed = _removed_login(email)
    if removed is not None and not db.session.scalar(
        select(Member.id).where(func.lower(Member.email) == email)
    ):
        removed.member = member
        removed.name = name
        removed.active = True
        removed.password_hash = ""
        removed.notices = True
        end_sessions(removed)  # links made before it was removed die with the old version
        return removed
    if not _address_free(email):
        raise FieldError("email", in_use_message(email))
    return create_user(email, Role.MEMBER, name=name, member=member)


def _untie(user: User) -> None:
    """Deactivate the login, untie it from its household and sign it out everywhere.

    The household's private calendar feed gets a new address: the old one, which the login
    could read on My share, shows nothing any more (csa/calendar/views.py finds no household).
    """
    member = user.member
    user.active = False
    user.member = None
    if member is not None:
        member.calendar_token = secrets.token_urlsafe(24)
    end_sessions(user)
    db.session.flush()


def remove_co_member(acting: User, user_id: int) -> User:
    """The contact removes one of its household's co-members; return the removed login."""
    member = _require_contact(acting)
    user = next((u for u in co_members(member) if u.id == user_id), None)
    if user is None:
        raise ValidationFailed(_("That login is not a co-member of your household."))
    _untie(user)
    return user


def leave_household(user: User) -> None:
    """A co-member leaves the household itself (the contact cannot: it is the household's)."""
    if user.member is None:
        raise ValidationFailed(_("Your login belongs to no household."))
    if is_contact(user):
        raise ValidationFailed(
            _("The household's contact cannot leave it; ask the farm to change the contact.")
        )
    _untie(user)
