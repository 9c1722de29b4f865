"""The member register: members, memberships and their invitations.

Everything here only flushes; the view or command that calls it commits once. The seasons,
share types, sites and crops a membership refers to are kept in csa/setup/operations.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from csa.accounts import household
from csa.accounts import operations as accounts
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import (
    OCCUPYING,
    AccountEvent,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Role,
    Season,
    ShareType,
    User,
)
from csa.register import waiting

log = logging.getLogger(__name__)
INVITED = "invited"  # AccountEvent.action of a login given by "invite everyone"

# Memberships that hold a place at their pickup site; waiting ones do not (yet).

# --- members ---------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    """Compare e-mails the way logins do: trimmed and lower-case."""
    return accounts.normalise_email(email)


def valid_email(email: str) -> bool:
    """True for something shaped like name@domain.tld (delivery is the real test)."""
    return accounts.valid_email(email)


def member_by_email(email: str) -> Member | None:
    """Find a household by e-mail, ignoring case and surrounding blanks."""
    email = normalise_email(email)
    return db.session.scalar(select(Member).where(func.lower(Member.email) == email))


@dataclass
class MemberData:
    """The fields of a household a coordinator may edit."""

    name: str
    email: str
    phone: str = ""
    address: str = ""
    notes: str = ""
    locale: str = "en"


def _check_member(data: MemberData, member: Member | None) -> MemberData:
    """Return the household's fields cleaned, or raise for the first broken rule."""
    name = data.name.strip()
    email = normalise_email(data.email)
    if not name:
        raise FieldError("name", _("Enter the member's name."))
    if not valid_email(email):
        raise FieldError("email", _("%(email)s is not an e-mail address.", email=email))
    other = member_by_email(email)
    if other is not None and other is not member:
        raise FieldError("email", _("Another member has the e-mail %(email)s.", email=email))
    return MemberData(
        name=name,
        email=email,
        phone=data.phone.strip(),
        address=data.address.strip(),
        notes=data.notes.strip(),
        locale=data.locale,
    )


def create_member(data: MemberData) -> Member:
    """Add a household; its e-mail must be new."""
    data = _check_member(data, None)
    member = Member(
        name=data.name,
        email=data.email,
        phone=data.phone,
        address=data.address,
        notes=data.notes,
        locale=data.locale,
    )
    db.session.add(member)
    db.session.flush()
    return member


def update_member(member: Member, data: MemberData) -> None:
    """Change a household's details; its login follows a new e-mail so invitations still match."""
    data = _check_member(data, member)
    if data.email != normalise_email(member.email):
        _move_contact(member, data.email)
    member.name = data.name
    member.email = data.email
    member.phone = data.phone
    member.address = data.address
    member.notes = data.notes
    member.locale = data.locale
    db.session.flush()


def _move_contact(member: Member, email: str) -> None:
    """Give the household a new address: the contact's login follows it, unless the address
    is a co-member's, who becomes the contact (the old contact keeps its own address)."""
    taken = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if taken is not None and taken.member_id == member.id:
        return
    if taken is not None:
        raise FieldError("email", _("A login with the e-mail %(email)s exists.", email=email))
    contact = household.contact_of(member)
    if contact is not None:
        contact.email = email


def invite_member(member: Member, acting: User) -> tuple[User, str]:
    """Give a household its login (or reuse it) and return it with a fresh set-password token.

    Only an admin may get a link for a staff login: the link sets that login's password.
    """
    existing = household.contact_of(member) or db.session.scalar(
        select(User).where(func.lower(User.email) == normalise_email(member.email))
    )
    if existing is not None and existing.role != Role.MEMBER and acting.role != Role.ADMIN:
        raise ValidationFailed(
            _(
                "%(email)s is a staff login; only an admin can give it a new link.",
                email=existing.email,
            )
        )
    if existing is not None and not existing.active:
        raise ValidationFailed(
            _("The login %(email)s is deactivated; reactivate it first.", email=existing.email)
        )
    user = accounts.invite_member(member)
    db.session.flush()
    return user, accounts.invite_token(user)


# --- memberships -----------------------------------------------------------------------


@dataclass
class MembershipData:
    """A contract's terms; empty dates mean the season's own dates."""

    season: Season
    share_type: ShareType
    site: PickupSite
    shares: int = 1
    start: date | None = None
    end: date | None = None
    status: MembershipStatus = MembershipStatus.ACTIVE
    # The last day of a trial share (csa/renewal/operations.py); None: no trial.
    trial_end: date | None = None


def _check_membership(
    member: Member, data: MembershipData, membership: Membership | None
) -> tuple[date, date]:
    """Return the contract's dates (empty = the season's), or raise for a broken rule."""
    season = data.season
    start = data.start or season.start
    end = data.end or season.end
    if data.shares < 1:
        raise FieldError("shares", _("The number of shares must be at least 1."))
    if start > end:
        raise FieldError("end", _("The end date is before the start date."))
    if start < season.start or end > season.end:
        raise FieldError(
            "start",
            _(
                "The dates must lie within the season %(season)s (%(start)s to %(end)s).",
                season=season.name,
                start=season.start.isoformat(),
                end=season.end.isoformat(),
            ),
        )
    if data.trial_end is not None and not start <= data.trial_end < end:
        raise FieldError(
            "trial_end",
            _("The trial must end on or after the start and before the end of the membership."),
        )
    takes_place = data.status in OCCUPYING and (
        membership is None
        or membership.status not in OCCUPYING
        or membership.site_id != data.site.id
        or membership.season_id != season.id
    )
    if takes_place and places_taken(data.site, season) >= data.site.capacity:
        raise FieldError(
            "status",
            _(
                "%(site)s is full (%(capacity)s of %(capacity)s places taken). Choose "
                "another site, or put the membership on the waiting list.",
                site=data.site.name,
                capacity=data.site.capacity,
            ),
        )
    if member.id is not None:
        clash = db.session.scalar(
            select(Membership).where(
                Membership.member_id == member.id, Membership.season_id == season.id
            )
        )
        if clash is not None and clash is not membership:
            raise FieldError(
                "season",
                _(
                    "%(name)s has a membership for %(season)s already.",
                    name=member.name,
                    season=season.name,
                ),
            )
    return start, end


def places_taken(site: PickupSite, season: Season) -> int:
    """Memberships holding a place at a site in a season (active and paused ones)."""
    return waiting.places_taken(site.id, season.id)


def create_membership(member: Member, data: MembershipData) -> Membership:
    """Sign a household up for a season."""
    start, end = _check_membership(member, data, None)
    rank = None
    if data.status == MembershipStatus.WAITING:
        rank = waiting.next_rank(data.site.id, data.season.id)
    membership = Membership(
        member=member,
        season=data.season,
        share_type=data.share_type,
        site=data.site,
        shares=data.shares,
        start=start,
        end=end,
        status=data.status,
        waiting_rank=rank,
        trial_end=data.trial_end,
    )
    db.session.add(membership)
    db.session.flush()
    return membership


def update_membership(membership: Membership, data: MembershipData) -> bool:
    """Change a contract's terms; return True if anything changed."""
    start, end = _check_membership(membership.member, data, membership)
    new = {
        "season": data.season,
        "share_type": data.share_type,
        "site": data.site,
        "shares": data.shares,
        "start": start,
        "end": end,
        "status": data.status,
        "trial_end": data.trial_end,
    }
    joins_list = data.status == MembershipStatus.WAITING and (
        membership.status != MembershipStatus.WAITING
        or membership.site_id != data.site.id
        or membership.season_id != data.season.id
    )
    changed = False
    for attr, value in new.items():
        if getattr(membership, attr) != value:
            setattr(membership, attr, value)
            changed = True
    if joins_list:
        membership.waiting_rank = waiting.next_rank(data.site.id, data.season.id)
    elif data.status != MembershipStatus.WAITING:
        membership.waiting_rank = None
    db.session.flush()
    return changed


def pause_membership(membership: Membership) -> None:
    """Stop a running share for now; it keeps its place at the site."""
    if membership.status != MembershipStatus.ACTIVE:
        raise ValidationFailed(_("Only an active membership can be paused."))
    membership.status = MembershipStatus.PAUSED
    db.session.flush()


def resume_membership(membership: Membership) -> None:
    """Start a paused share again (a paused membership kept its place at the site)."""
    if membership.status != MembershipStatus.PAUSED:
        raise ValidationFailed(_("Only a paused membership can be resumed."))
    membership.status = MembershipStatus.ACTIVE
    db.session.flush()


def end_membership(membership: Membership) -> None:
    """End a contract for good; its dates and history stay as they were."""
    if membership.status == MembershipStatus.ENDED:
        raise ValidationFailed(_("This membership has ended already."))
    membership.status = MembershipStatus.ENDED
    db.session.flush()


# --- the register list -----------------------------------------------------------------


# --- inviting every household that has no login yet --------------------------------------------


def uninvited_households() -> Select[Any]:
    """Households with a membership that has not ended and no login yet, by name.

    A login with the household's e-mail counts as its login (an invitation would reuse it).
    """
    current = select(Membership.id).where(
        Membership.member_id == Member.id, Membership.status != MembershipStatus.ENDED
    )
    has_login = select(User.id).where(
        (User.member_id == Member.id) | (func.lower(User.email) == func.lower(Member.email))
    )
    return (
        select(Member)
        .where(current.exists(), ~has_login.exists())
        .order_by(func.lower(Member.name), Member.id)
    )


def count_uninvited() -> int:
    counted = select(func.count()).select_from(uninvited_households().subquery())
    return int(db.session.scalar(counted) or 0)


def invite_everyone(acting: User, link_for: Callable[[str], str]) -> int:
    """Give every uninvited household a login and queue its set-password mail (the outbox
    delivers them one by one). Returns how many; running it again invites nobody twice.

    :param link_for: the set-password URL of a token (the view knows the host).
    """
    count = 0
    for member in db.session.scalars(uninvited_households()).all():
        user = accounts.invite_member(member)
        token = accounts.invite_token(user)
        accounts.mail_invitation(user, link_for(token), token)
        db.session.add(AccountEvent(user_id=user.id, by_id=acting.id, action=INVITED))
        count += 1
    db.session.flush()
    return count
