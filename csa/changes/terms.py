"""The terms in force on a date: a membership's own columns, or its latest approved change.

A membership's row keeps the terms it started with (share type, count, site); a change is a
`MembershipChange` with an effective date, never an edit. On a date the terms in force are
those of the latest approved change effective on or before it (a later decision wins a tie
of dates), else the membership's own. Every read here answers for many memberships at once:
one query of the approved changes in force (a small table: a few per household and season)
and one of the memberships, whatever their number, so the split, the sheets and the
register pay two or three queries per round, never one per membership. (A single SQL query
joining each membership to its latest change, by a window function or a NOT EXISTS, was
tried: SQLite re-ran it per membership, 0.4 s instead of 20 ms for 5,000 memberships and
500 changes.) Reads only; nothing here imports another feature.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from csa.extensions import db
from csa.models import (
    OCCUPYING,
    ChangeState,
    Member,
    Membership,
    MembershipChange,
    MembershipStatus,
    PickupSite,
    Season,
    ShareType,
)


@dataclass(frozen=True, slots=True)
class Step:
    """An approved change as plain ids: from `effective` on, these terms."""

    effective: date
    share_type_id: int
    shares: int
    site_id: int


def _in_force_changes(on_date: date, season_id: int | None = None) -> dict[int, Step]:
    """Membership id -> its latest approved change effective on or before the date, for the
    memberships whose contract covers the date (or, given a season, all of that season's)."""
    query = (
        select(
            MembershipChange.membership_id,
            MembershipChange.effective,
            MembershipChange.share_type_id,
            MembershipChange.shares,
            MembershipChange.site_id,
        )
        .join(Membership, Membership.id == MembershipChange.membership_id)
        .where(
            MembershipChange.state == ChangeState.APPROVED,
            MembershipChange.effective <= on_date,
        )
        .order_by(MembershipChange.effective, MembershipChange.id)
    )
    if season_id is not None:
        query = query.where(Membership.season_id == season_id)
    else:
        query = query.where(Membership.start <= on_date, Membership.end >= on_date)
    # In date order, so the latest (and of one date, the last decided) is kept.
    return {
        mid: Step(day, type_id, shares, site_id)
        for mid, day, type_id, shares, site_id in db.session.execute(query)
    }


class InForce:
    """A membership as it stood on one date: its own row, with the terms then in force.

    Pages, sheets and exports read `site`, `share_type` and `shares` from it as they would
    from a Membership; everything else is the membership's own.
    """

    __slots__ = ("membership", "share_type", "shares", "site")

    def __init__(
        self, membership: Membership, share_type: ShareType, shares: int, site: PickupSite
    ) -> None:
        self.membership = membership
        self.share_type = share_type
        self.shares = shares
        self.site = site

    @classmethod
    def own(cls, membership: Membership) -> InForce:
        """The membership's terms at its start."""
        return cls(membership, membership.share_type, membership.shares, membership.site)

    @property
    def id(self) -> int:
        return self.membership.id

    @property
    def member(self) -> Member:
        return self.membership.member

    @property
    def member_id(self) -> int:
        return self.membership.member_id

    @property
    def season_id(self) -> int:
        return self.membership.season_id

    @property
    def season(self) -> Season:
        return self.membership.season

    @property
    def start(self) -> date:
        return self.membership.start

    @property
    def end(self) -> date:
        return self.membership.end

    @property
    def status(self) -> MembershipStatus:
        return self.membership.status

    @property
    def site_id(self) -> int:
        return self.site.id

    @property
    def share_type_id(self) -> int:
        return self.share_type.id

    @property
    def weight_milli(self) -> int:
        return self.share_type.weight_milli * self.shares

    def active_on(self, on_date: date) -> bool:
        return self.membership.active_on(on_date)

    def same_terms(self, share_type_id: int, shares: int, site_id: int) -> bool:
        return (self.share_type_id, self.shares, self.site_id) == (share_type_id, shares, site_id)

    def __repr__(self) -> str:
        return f"<InForce {self.id}: {self.shares} x {self.share_type.name} at {self.site.name}>"


def in_force(on_date: date, membership_ids: Collection[int]) -> dict[int, InForce]:
    """The memberships with the terms in force on a date (one query of changes, one of the
    memberships, and one each of the share types and sites a change names)."""
    if not membership_ids:
        return {}
    changed = _in_force_changes(on_date)
    rows = db.session.scalars(
        select(Membership)
        .options(
            joinedload(Membership.member),
            joinedload(Membership.share_type),
            joinedload(Membership.site),
        )
        .where(Membership.id.in_(list(membership_ids)))
    ).unique()
    out = {m.id: InForce.own(m) for m in rows}
    steps = {mid: step for mid, step in changed.items() if mid in out}
    if steps:
        types = _by_id(ShareType, {s.share_type_id for s in steps.values()})
        sites = _by_id(PickupSite, {s.site_id for s in steps.values()})
        for mid, step in steps.items():
            m = out[mid].membership
            out[mid] = InForce(m, types[step.share_type_id], step.shares, sites[step.site_id])
    return out


def _by_id(model: Any, ids: Collection[int]) -> dict[int, Any]:
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)))}


def in_force_one(membership: Membership, on_date: date) -> InForce:
    """One membership's terms on a date (the member's pages)."""
    return terms_over(membership, [on_date])[on_date]


def weights_at(on_date: date, site_ids: Collection[int]) -> dict[int, int]:
    """Membership id -> weight (thousandths x shares) of every membership active on the date
    whose site in force then is one of these: the split's eligibility."""
    if not site_ids:
        return {}
    sites = set(site_ids)
    changed = _in_force_changes(on_date)
    weights = dict(db.session.execute(select(ShareType.id, ShareType.weight_milli)).all())
    rows = db.session.execute(
        select(
            Membership.id, Membership.share_type_id, Membership.shares, Membership.site_id
        ).where(
            Membership.status == MembershipStatus.ACTIVE,
            Membership.start <= on_date,
            Membership.end >= on_date,
            or_(Membership.site_id.in_(sites), Membership.id.in_(list(changed))),
        )
    )
    out = {}
    for mid, type_id, shares, site_id in rows:
        step = changed.get(mid)
        if step is not None:
            type_id, shares, site_id = step.share_type_id, step.shares, step.site_id
        if site_id in sites:
            out[mid] = shares * weights[type_id]
    return out


def sites_at(on_date: date, membership_ids: Collection[int]) -> dict[int, int]:
    """Membership id -> the id of its site in force on the date."""
    if not membership_ids:
        return {}
    changed = _in_force_changes(on_date)
    rows = db.session.execute(
        select(Membership.id, Membership.site_id).where(Membership.id.in_(list(membership_ids)))
    )
    return {mid: changed[mid].site_id if mid in changed else site for mid, site in rows}


def places_taken_on(site_id: int, season_id: int, on_date: date, without: int | None = None) -> int:
    """Memberships holding a place at a site on a date (active and paused ones, the site in
    force then, counted over the season as csa/register/waiting.py counts); `without` leaves
    one membership out (the one asking to move there)."""
    changed = _in_force_changes(on_date, season_id)
    rows = db.session.execute(
        select(Membership.id, Membership.site_id).where(
            Membership.season_id == season_id,
            Membership.status.in_(OCCUPYING),
            or_(Membership.site_id == site_id, Membership.id.in_(list(changed))),
        )
    )
    return sum(
        1
        for mid, own in rows
        if mid != without and (changed[mid].site_id if mid in changed else own) == site_id
    )


def places_taken_from(
    site: PickupSite, season: Season, from_date: date, without: int | None = None
) -> int:
    """The most places taken at a site on any day from a date to the season's end: the
    counts change only on the effective dates of approved changes, so those are checked."""
    return peak_places_taken(site.id, season.id, from_date, without)


def peak_places_taken(
    site_id: int, season_id: int, from_date: date = date.min, without: int | None = None
) -> int:
    """`places_taken_from` by ids; from the start of the season by default, which without
    any approved change is the plain count of the memberships at the site."""
    dates = {from_date} | set(
        db.session.scalars(
            select(MembershipChange.effective)
            .join(Membership, Membership.id == MembershipChange.membership_id)
            .where(
                Membership.season_id == season_id,
                MembershipChange.state == ChangeState.APPROVED,
                MembershipChange.effective > from_date,
            )
            .distinct()
        )
    )
    return max(places_taken_on(site_id, season_id, d, without) for d in sorted(dates))


def terms_over(membership: Membership, days: Collection[date]) -> dict[date, InForce]:
    """One membership's terms on each of several days (its rounds), from one query of its
    approved changes."""
    changes = db.session.execute(
        select(MembershipChange, ShareType, PickupSite)
        .join(ShareType, ShareType.id == MembershipChange.share_type_id)
        .join(PickupSite, PickupSite.id == MembershipChange.site_id)
        .where(
            MembershipChange.membership_id == membership.id,
            MembershipChange.state == ChangeState.APPROVED,
        )
        .order_by(MembershipChange.effective, MembershipChange.id)
    ).all()
    own = InForce.own(membership)
    if not changes:
        return dict.fromkeys(days, own)
    steps = [(c.effective, InForce(membership, st, c.shares, site)) for c, st, site in changes]
    out = {}
    for day in days:
        found = own
        for effective, terms in steps:
            if effective > day:
                break
            found = terms
        out[day] = found
    return out


def approved_steps(membership_ids: Collection[int]) -> dict[int, list[Step]]:
    """Every approved change of these memberships, in the order they take effect (one
    query), for pages that look at many rounds at once (the calendar)."""
    if not membership_ids:
        return {}
    out: dict[int, list[Step]] = {}
    for mid, effective, type_id, shares, site_id in db.session.execute(
        select(
            MembershipChange.membership_id,
            MembershipChange.effective,
            MembershipChange.share_type_id,
            MembershipChange.shares,
            MembershipChange.site_id,
        )
        .where(
            MembershipChange.state == ChangeState.APPROVED,
            MembershipChange.membership_id.in_(list(membership_ids)),
        )
        .order_by(MembershipChange.effective, MembershipChange.id)
    ):
        out.setdefault(mid, []).append(Step(effective, type_id, shares, site_id))
    return out


def step_on(membership: Membership, steps: list[Step], day: date) -> Step:
    """The terms of a membership on a day, from its approved changes (`approved_steps`)."""
    found = Step(membership.start, membership.share_type_id, membership.shares, membership.site_id)
    for step in steps:
        if step.effective > day:
            break
        found = step
    return found
