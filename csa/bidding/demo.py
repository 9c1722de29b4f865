"""The demo farm's bidding round: a budget and a range round settled before the season began.

Most households pledged a range around their reference price, a few below the floor with a
reason, some not at all (they pay the reference). Loading twice changes nothing: a season
with a bidding round is left as it is.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from csa.bidding import operations as svc
from csa.bidding import rules
from csa.extensions import db
from csa.models import BiddingMode, BiddingRound, BiddingState, Membership, Season
from csa.money.prices import paying_memberships, reference_prices
from csa.money.profile import farm_profile

REASONS = [
    "Two children at university this year.",
    "Between jobs since the spring.",
    "A pension that did not grow with the prices.",
]


def load_demo_bidding(today: date, season: Season, memberships: list[Membership]) -> str:
    """Give the demo season a budget and a settled range round; return what was done."""
    if svc.rounds_of(season):
        return "bidding: the demo season has its round already"
    rows = paying_memberships(season) or memberships
    if not rows:
        return "bidding: no memberships to pledge"
    if season.budget_cents is None:
        season.budget_cents = sum(m.share_type.price_cents * m.shares for m in rows)
    references = reference_prices(season, rows)
    opened = datetime.combine(season.start - timedelta(days=35), time(9))
    deadline = season.start - timedelta(days=14)
    round_ = BiddingRound(
        season=season,
        number=1,
        mode=BiddingMode.RANGE,
        state=BiddingState.OPEN,
        opened_at=opened,
        deadline=deadline,
    )
    db.session.add(round_)
    db.session.flush()
    floor = farm_profile().pledge_floor_permille
    rnd = random.Random(12)  # noqa: S311 - demo data, not security
    for n, membership in enumerate(rows):
        reference = references[membership.id]
        if n % 7 == 3 or reference <= 0:
            continue  # did not pledge: pays the reference price
        if n % 9 == 5:  # below the floor, with a reason
            least = reference * (floor - rnd.randint(50, 150)) // rules.PERMILLE
            most = reference * floor // rules.PERMILLE + reference // 10
            reason = REASONS[n % len(REASONS)]
        else:
            least = reference * rnd.randint(800, 980) // rules.PERMILLE
            most = reference * rnd.randint(1080, 1350) // rules.PERMILLE
            reason = ""
        svc.pledge(
            round_, membership, max(least, 100), max(most, least, 100), reason, None, deadline
        )
    svc.close_round(round_, datetime.combine(deadline + timedelta(days=1), time(0, 5)))
    result = svc.settle(
        round_,
        None,
        datetime.combine(deadline + timedelta(days=1), time(0, 5)),
        accept_shortfall=True,
        notify=False,
    )
    return (
        f"bidding: round settled at λ = {float(result.lam):.3f}, {len(result.prices)} season prices"
    )
