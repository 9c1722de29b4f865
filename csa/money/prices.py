"""The season price of each membership: fixed by a settled bidding round, else the
reference price that follows from the season's budget and the weights.

Reference price of membership i = budget × wᵢ / Σ w, with wᵢ = share type weight × shares,
over the season's memberships that hold a place (active or paused), rounded to cents so the
references add up to the budget exactly (csa/core/money.py split_cents). Without a budget,
the share type's listed price × shares is the reference.

Latecomers (csa/bidding): settling a round writes every paying membership's price, so a
membership of a settled season without a price joined after it settled. Its reference is
what a share of its weight cost at settlement, budget × wᵢ / Σ w of the memberships settled
(BiddingRound.weight_milli), rounded half up; with FarmProfile.latecomer_pro_rata it pays
that for the rounds left only: × (its site's round dates in the season from its start on) /
(its site's round dates in the whole season), by the site's rhythm (csa/bidding/rules.py
latecomer_price). Rounds moved or cancelled by hand do not change it: the rhythm is the
contract's calendar.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from csa.bidding.rules import latecomer_price
from csa.core.money import split_cents
from csa.core.schedule import round_dates
from csa.extensions import db
from csa.models import OCCUPYING, BiddingRound, BiddingState, Membership, Season
from csa.money.profile import farm_profile


def paying_memberships(season: Season) -> list[Membership]:
    """The season's memberships that hold a place, in id order."""
    return list(
        db.session.scalars(
            select(Membership)
            .options(joinedload(Membership.share_type), joinedload(Membership.member))
            .where(Membership.season_id == season.id, Membership.status.in_(OCCUPYING))
            .order_by(Membership.id)
        )
    )


def reference_prices(season: Season, memberships: list[Membership] | None = None) -> dict[int, int]:
    """Membership id → reference price in cents for the season."""
    rows = paying_memberships(season) if memberships is None else memberships
    if not rows:
        return {}
    if season.budget_cents is None:
        return {m.id: m.share_type.price_cents * m.shares for m in rows}
    return split_cents(season.budget_cents, {m.id: m.weight_milli for m in rows})


def season_prices(season: Season) -> dict[int, int]:
    """Membership id → what it pays for the season: its fixed price, else its reference
    (a latecomer's after a settled round: see the module docstring)."""
    rows = paying_memberships(season)
    reference = reference_prices(season, rows)
    settled = db.session.scalar(
        select(BiddingRound).where(
            BiddingRound.season_id == season.id, BiddingRound.state == BiddingState.SETTLED
        )
    )
    prices = {}
    for m in rows:
        if m.price_cents is not None:
            prices[m.id] = m.price_cents
        elif settled is not None:
            prices[m.id] = latecomer_reference(m, settled)
        else:
            prices[m.id] = reference[m.id]
    return prices


def latecomer_reference(membership: Membership, settled: BiddingRound) -> int:
    """What a membership that joined after the round settled pays (module docstring)."""
    season = membership.season
    budget = settled.budget_cents or 0
    weights = settled.weight_milli or 0
    if weights <= 0:
        full = membership.share_type.price_cents * membership.shares
    else:
        full = (2 * budget * membership.weight_milli + weights) // (2 * weights)
    if not farm_profile().latecomer_pro_rata:
        return full
    dates = round_dates([membership.site.rhythm], season.start, season.end)
    left = sum(1 for d in dates if d >= membership.start)
    return latecomer_price(full, left, len(dates))
