"""Who reads a household's notices, and in which language.

Every notice to a household goes through `household_recipients`, so the rule of who is
told lives in one place. Each recipient carries a `key`, appended to the notice's
idempotency key so a job that runs twice sends each person one message.

The rule: every active login of the household whose "E-mail me the household's notices" is
on (`User.notices`), each in its own language. The contact's login (the one with the
household's e-mail, csa/accounts/household.py) keeps the key "" the household's address
always had, so notices queued before co-members existed are not sent again; a co-member's
key is `user<id>`. The household's own address is told, in the household's language, when
no active login carries it: a household imported without logins, or one whose contact's
login was deactivated, is told as before. A contact who turned its notices off is not.
No address is told twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from csa.extensions import db
from csa.models import Member, User


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    locale: str
    key: str  # "" for the household's own address, else something unique per login


def login_locale(user: User) -> str:
    """The language of mails to a login: its person's choice, else its household's, else the
    farm's default (a login has no language until its person picks one)."""
    languages = current_app.config["LANGUAGES"]
    household = user.member.locale if user.member is not None else ""
    for code in (user.locale, household):
        if code in languages:
            return str(code)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def household_recipients(member: Member) -> list[Recipient]:
    """The addresses a household's notices go to (the module's docstring has the rule)."""
    own = member.email.strip().lower()
    recipients: list[Recipient] = []
    seen: set[str] = set()
    address_has_login = False
    for user in member.users:  # oldest first
        if not user.active:
            continue
        email = user.email.strip().lower()
        if email == own:
            address_has_login = True
        if not user.notices or email in seen:
            continue
        seen.add(email)
        key = "" if email == own else f"user{user.id}"
        recipients.append(Recipient(user.email, login_locale(user), key))
    if not address_has_login and own not in seen:
        recipients.insert(0, Recipient(member.email, member.locale, ""))
    return recipients


def load_logins(members: Iterable[Member]) -> None:
    """Read the logins of many households at once, before a notice goes to each of them
    (else every household's `users` is one more query)."""
    ids = sorted({m.id for m in members})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        db.session.scalars(
            select(Member).where(Member.id.in_(chunk)).options(selectinload(Member.users))
        ).all()


def keyed(base: str, recipient: Recipient) -> str:
    """The idempotency key of one notice to one recipient."""
    return f"{base}/{recipient.key}" if recipient.key else base
