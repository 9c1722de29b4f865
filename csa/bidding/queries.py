"""Reads for the bidding pages: the season shown, the reference price of each share type,
a household's rounds."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from csa.bidding.operations import current_round, household_membership
from csa.extensions import db
from csa.models import (
    OCCUPYING,
    BiddingRound,
    BiddingState,
    Member,
    Membership,
    Pledge,
    PledgeResult,
    Season,
    ShareType,
)
from csa.money.prices import paying_memberships, reference_prices


def chosen_season(wanted: int | None, today: object) -> tuple[list[Season], Season | None]:
    """The seasons, newest first, and the one asked for, else the running one, else the
    newest."""
    seasons = list(db.session.scalars(select(Season).order_by(Season.start.desc())))
    chosen = next((s for s in seasons if s.id == wanted), None)
    current = next((s for s in seasons if s.start <= today <= s.end), None)  # type: ignore[operator]
    return seasons, chosen or current or (seasons[0] if seasons else None)


@dataclass
class TypeReference:
    share_type: ShareType
    memberships: int  # paying memberships of this type
    one_share: int  # the reference price of one share of it, in cents


def type_references(season: Season) -> list[TypeReference]:
    """The reference price of one share of each share type held in the season."""
    rows = paying_memberships(season)
    total = sum(m.weight_milli for m in rows)
    by_type: dict[int, TypeReference] = {}
    for m in rows:
        ref = by_type.get(m.share_type_id)
        if ref is None:
            if season.budget_cents is not None and total > 0:
                one = (2 * season.budget_cents * m.share_type.weight_milli + total) // (2 * total)
            else:
                one = m.share_type.price_cents
            ref = by_type[m.share_type_id] = TypeReference(m.share_type, 0, one)
        ref.memberships += 1
    return sorted(by_type.values(), key=lambda r: (r.share_type.weight_milli, r.share_type.name))


@dataclass
class HouseholdRound:
    """What a household sees of one season's bidding round."""

    membership: Membership
    round: BiddingRound
    reference: int
    pledge: Pledge | None
    result: PledgeResult | None  # once settled
    references: dict[int, int]  # the season's reference prices, membership id → cents


def household_rounds(member: Member) -> list[HouseholdRound]:
    """The household's current rounds, one per season it holds a place in, newest first."""
    found = []
    for membership in member.memberships:  # newest first
        if membership.status not in OCCUPYING:
            continue
        round_ = current_round(membership.season)
        if round_ is None:
            continue
        if household_membership(member, membership.season) is not membership:
            continue
        result = None
        if round_.state == BiddingState.SETTLED:
            result = db.session.scalar(
                select(PledgeResult).where(
                    PledgeResult.bidding_round_id == round_.id,
                    PledgeResult.membership_id == membership.id,
                )
            )
        references = reference_prices(membership.season)
        found.append(
            HouseholdRound(
                membership,
                round_,
                references.get(membership.id, 0),
                db.session.scalar(
                    select(Pledge).where(
                        Pledge.bidding_round_id == round_.id,
                        Pledge.membership_id == membership.id,
                    )
                ),
                result,
                references,
            )
        )
    return found


def results_of(round_: BiddingRound) -> list[PledgeResult]:
    """A settled round's prices, by membership id."""
    return list(
        db.session.scalars(
            select(PledgeResult)
            .where(PledgeResult.bidding_round_id == round_.id)
            .order_by(PledgeResult.membership_id)
        )
    )


def pledge_open(member: Member) -> bool:
    """True while one of the household's seasons takes its pledge (for the share page)."""
    return any(r.round.state == BiddingState.OPEN for r in household_rounds(member))
