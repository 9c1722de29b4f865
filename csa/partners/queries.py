"""Share partners, read: who shares which membership, and who collects each of its rounds.

The rule itself is pure (csa/core/partners.py); this module feeds it the membership's
rounds (as My share counts them, csa/share/queries.py), its holds, the plan and the
accepted swaps, in a few queries per shared membership.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from csa.core.partners import Pattern, Slot, Swap, collectors
from csa.extensions import db
from csa.models import (
    Member,
    Membership,
    MembershipStatus,
    PartnerPattern,
    PartnerPlanEntry,
    PartnerSetting,
    PartnerSwap,
    PartnerSwapState,
    Round,
    RoundStatus,
    SharePartner,
)
from csa.share.queries import holds_of, membership_rounds

# Households sharing one membership at most (the membership's own included).
MAX_HOUSEHOLDS = 4


@dataclass
class Sharing:
    """A shared membership: its households in turn order and how they divide the rounds."""

    membership: Membership
    households: list[Member]  # the membership's own household first
    partners: list[SharePartner]
    pattern: PartnerPattern
    since: date

    @property
    def household_ids(self) -> list[int]:
        return [m.id for m in self.households]

    def name_of(self, member_id: int | None) -> str:
        return next((m.name for m in self.households if m.id == member_id), "")

    def includes(self, member_id: int | None) -> bool:
        return member_id is not None and member_id in self.household_ids


@dataclass
class RoundLine:
    """One round of a shared membership: who collects it, and why nobody does."""

    round: Round
    collector: int | None
    on_hold: bool
    planned: int | None = None  # the plan's household for it, if any
    swapped: bool = False


@dataclass
class Schedule:
    sharing: Sharing
    who: dict[int, int | None] = field(default_factory=dict)  # round id -> member id
    lines: list[RoundLine] = field(default_factory=list)


def setting_of(membership: Membership) -> PartnerSetting | None:
    return db.session.get(PartnerSetting, membership.id)


def partners_of(membership_id: int) -> list[SharePartner]:
    return list(
        db.session.scalars(
            select(SharePartner)
            .options(joinedload(SharePartner.member))
            .where(SharePartner.membership_id == membership_id)
            .order_by(SharePartner.position, SharePartner.id)
        )
    )


def sharing_of(membership: Membership) -> Sharing | None:
    """The membership's sharing, or None when no other household shares it."""
    partners = partners_of(membership.id)
    if not partners:
        return None
    setting = setting_of(membership)
    since = setting.since if setting else min(p.joined for p in partners)
    pattern = setting.pattern if setting else PartnerPattern.ALTERNATE
    return Sharing(
        membership, [membership.member, *(p.member for p in partners)], partners, pattern, since
    )


def shared_memberships(member_ids: Collection[int] | None = None) -> list[Membership]:
    """Memberships that have partners (of these households, as owner or partner, if given)."""
    query = (
        select(Membership)
        .join(SharePartner, SharePartner.membership_id == Membership.id)
        .options(joinedload(Membership.member), joinedload(Membership.season))
        .order_by(Membership.start.desc(), Membership.id)
        .distinct()
    )
    if member_ids is not None:
        ids = list(member_ids)
        query = query.where(or_(Membership.member_id.in_(ids), SharePartner.member_id.in_(ids)))
    return list(db.session.scalars(query).unique())


def sharings_for(member: Member, today: date) -> list[Sharing]:
    """The shared memberships a household takes part in that have not ended, newest first."""
    found = []
    for membership in shared_memberships([member.id]):
        if membership.end < today or membership.status != MembershipStatus.ACTIVE:
            continue
        sharing = sharing_of(membership)
        if sharing is not None and sharing.includes(member.id):
            found.append(sharing)
    return found


def sharing_for(membership_id: int, member: Member | None, today: date) -> Sharing | None:
    """The sharing of a membership the household takes part in, or None (a 404)."""
    if member is None:
        return None
    return next((s for s in sharings_for(member, today) if s.membership.id == membership_id), None)


def accepted_swaps(membership_id: int) -> list[PartnerSwap]:
    return list(
        db.session.scalars(
            select(PartnerSwap)
            .where(
                PartnerSwap.membership_id == membership_id,
                PartnerSwap.state == PartnerSwapState.ACCEPTED,
            )
            .order_by(PartnerSwap.answered_at, PartnerSwap.id)
        )
    )


def open_swaps(membership_id: int) -> list[PartnerSwap]:
    return list(
        db.session.scalars(
            select(PartnerSwap)
            .options(joinedload(PartnerSwap.round_a), joinedload(PartnerSwap.round_b))
            .where(
                PartnerSwap.membership_id == membership_id,
                PartnerSwap.state == PartnerSwapState.PROPOSED,
            )
            .order_by(PartnerSwap.created_at, PartnerSwap.id)
        )
    )


def plan_of(membership_id: int) -> dict[int, int]:
    return {
        e.round_id: e.member_id
        for e in db.session.scalars(
            select(PartnerPlanEntry).where(PartnerPlanEntry.membership_id == membership_id)
        )
    }


def schedule(sharing: Sharing) -> Schedule:
    """Who collects each round of the shared membership counted from `sharing.since`.

    Always over every round of the membership (a subset would restart the turns). Rounds
    before `since` (the membership's alone, or another set of partners) name nobody.
    """
    membership = sharing.membership
    every = membership_rounds(membership)
    counted = [r for r in every if r.date >= sharing.since]
    holds = holds_of(membership)
    slots = [
        Slot(r.id, r.date, held=r.status != RoundStatus.CANCELLED and r.date not in holds)
        for r in counted
    ]
    plan = plan_of(membership.id)
    swaps = accepted_swaps(membership.id)
    pairs: list[Swap[int]] = [
        Swap(s.round_a_id, s.with_member_id, s.round_b_id, s.by_member_id) for s in swaps
    ]
    who = collectors(
        slots,
        sharing.household_ids,
        pattern=Pattern(sharing.pattern.value),
        plan=plan,
        swaps=pairs,
    )
    swapped = {s.round_a_id for s in swaps} | {s.round_b_id for s in swaps if s.round_b_id}
    lines = [
        RoundLine(
            r,
            who.get(r.id),
            on_hold=r.date in holds,
            planned=plan.get(r.id) if sharing.pattern == PartnerPattern.PLAN else None,
            swapped=r.id in swapped,
        )
        for r in counted
    ]
    return Schedule(sharing, who, lines)


def collectors_on(round_: Round, membership_ids: Collection[int]) -> dict[int, str]:
    """For a round's pickup list: membership id -> name of the household collecting it,
    for the shared memberships among these."""
    ids = list(membership_ids)
    if not ids:
        return {}
    shared = db.session.scalars(
        select(Membership)
        .where(
            Membership.id.in_(
                select(SharePartner.membership_id).where(SharePartner.membership_id.in_(ids))
            )
        )
        .options(joinedload(Membership.member))
    ).unique()
    out: dict[int, str] = {}
    for membership in shared:
        sharing = sharing_of(membership)
        if sharing is None:
            continue
        who = schedule(sharing).who.get(round_.id)
        if who is not None:
            out[membership.id] = sharing.name_of(who)
    return out


def rounds_collected_by(member: Member, today: date) -> list[tuple[Sharing, Round]]:
    """The coming rounds a partner household collects of memberships that are not its own
    (for its calendar feed: its own membership's rounds are in the feed already)."""
    out = []
    for sharing in sharings_for(member, today):
        if sharing.membership.member_id == member.id:
            continue
        for line in schedule(sharing).lines:
            if line.collector == member.id and line.round.date >= today:
                out.append((sharing, line.round))
    return out
