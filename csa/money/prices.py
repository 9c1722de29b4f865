"""The season price of each membership: fixed by a settled bidding round, else the
reference price that follows from the season's budget and the weights.

Reference price of membership i = budget × wᵢ / Σ w, with wᵢ = share type weight × shares,
over the season's memberships that hold a place (active or paused), rounded to cents so the
references add up to the budget exactly (csa/core/money.py split_cents). Without a budget,
the share type's listed price × shares is the reference.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from csa.core.money import split_cents
from csa.extensions import db
from csa.models import OCCUPYING, Membership, Season


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
    """Membership id → what it pays for the season: its fixed price, else its reference."""
    rows = paying_memberships(season)
    reference = reference_prices(season, rows)
    return {m.id: m.price_cents if m.price_cents is not None else reference[m.id] for m in rows}
