"""Whom a message goes to: the register's groups, a round's members, and the audiences other
features register (csa/community/audiences.py).

Each choice answers with the member (household) ids it names on the day it is previewed or
sent, and words for it in the sender's language, stored with the message so the sent list
says whom it went to even after a site is renamed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from csa.changes.terms import sites_at
from csa.community.audiences import audiences
from csa.errors import FieldError
from csa.extensions import db
from csa.models import (
    AudienceKind,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Round,
    ShareType,
)
from csa.rounds.split import eligible_memberships, sites_serving


@dataclass(frozen=True)
class Choice:
    """What the compose form chose; `ids` are sites, share types or the one household."""

    kind: AudienceKind
    ids: tuple[int, ...] = ()
    key: str = ""  # a registered audience's key
    round_id: int | None = None


@dataclass(frozen=True)
class Resolved:
    member_ids: frozenset[int]
    description: str


def _active(today: date) -> list[tuple[int, int, int]]:
    """(membership id, member id, share type id) of every active membership now or to come."""
    rows = db.session.execute(
        select(Membership.id, Membership.member_id, Membership.share_type_id).where(
            Membership.status == MembershipStatus.ACTIVE, Membership.end >= today
        )
    )
    return [(int(a), int(b), int(c)) for a, b, c in rows]


def _names(model: type[PickupSite] | type[ShareType], ids: Collection[int]) -> list[str]:
    rows = db.session.scalars(select(model.name).where(model.id.in_(list(ids))))
    return sorted((str(name) for name in rows), key=str.lower)


def round_members(round_: Round) -> set[int]:
    """The households with a share in a round (at the sites it serves, active that day)."""
    return {
        f.membership.member_id
        for f in eligible_memberships(round_.date, sites_serving(round_.date))
    }


def resolve(choice: Choice, today: date) -> Resolved:
    """The households a choice names today and its words; FieldError on a choice that names
    nothing that exists (the form shows it next to the audience)."""
    kind = choice.kind
    if kind == AudienceKind.ACTIVE:
        return Resolved(
            frozenset(m for _ms, m, _t in _active(today)),
            _("Everyone with an active membership"),
        )
    if kind == AudienceKind.SITES:
        names = _names(PickupSite, choice.ids)
        if not names:
            raise FieldError("sites", _("Choose at least one pickup site."))
        active = _active(today)
        at = sites_at(today, [ms for ms, _m, _t in active])
        wanted = set(choice.ids)
        members = frozenset(m for ms, m, _t in active if at.get(ms) in wanted)
        return Resolved(members, _("Pickup sites: %(names)s", names=", ".join(names)))
    if kind == AudienceKind.SHARE_TYPES:
        names = _names(ShareType, choice.ids)
        if not names:
            raise FieldError("share_types", _("Choose at least one share type."))
        wanted = set(choice.ids)
        members = frozenset(m for _ms, m, t in _active(today) if t in wanted)
        return Resolved(members, _("Share types: %(names)s", names=", ".join(names)))
    if kind == AudienceKind.WAITING:
        rows = db.session.scalars(
            select(Membership.member_id).where(Membership.status == MembershipStatus.WAITING)
        )
        return Resolved(frozenset(int(m) for m in rows), _("The waiting list"))
    if kind == AudienceKind.HOUSEHOLD:
        member = db.session.get(Member, choice.ids[0]) if choice.ids else None
        if member is None:
            raise FieldError("household", _("Choose a household."))
        return Resolved(frozenset({member.id}), _("Household: %(name)s", name=member.name))
    if kind == AudienceKind.ROUND:
        round_ = db.session.get(Round, choice.round_id) if choice.round_id else None
        if round_ is None:
            raise FieldError("round_id", _("Choose a round."))
        return Resolved(
            frozenset(round_members(round_)),
            _("The members of the round of %(date)s", date=round_.date.isoformat()),
        )
    registered = audiences().get(choice.key)
    if registered is None:
        raise FieldError("audience", _("Choose whom to write to."))
    return Resolved(frozenset(registered.members()), str(registered.label()))
