"""Small builders for test data: a farm with a season, share types, sites and crops."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, time

from csa.extensions import db
from csa.models import (
    Crop,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Season,
    ShareType,
)

_seq = itertools.count(1)


@dataclass
class Farm:
    season: Season
    full: ShareType
    half: ShareType
    family: ShareType
    tuesday: PickupSite  # weekday 1
    thursday: PickupSite  # weekday 3
    tomatoes: Crop  # kg, step 0.05
    pumpkins: Crop  # piece, step 1
    members: list[Member] = field(default_factory=list)


def make_farm(start: date = date(2027, 5, 1), end: date = date(2027, 11, 30)) -> Farm:
    season = Season(name=f"Season {start.year}", start=start, end=end)
    full = ShareType(name="Full", weight_milli=1000, price_cents=120000)
    half = ShareType(name="Half", weight_milli=500, price_cents=65000)
    family = ShareType(name="Family", weight_milli=1500, price_cents=170000)
    tue = PickupSite(
        name="Old Mill",
        address="Mill Lane 1",
        weekday=1,
        opens=time(16),
        closes=time(19),
        capacity=40,
    )
    thu = PickupSite(
        name="Town Hall",
        address="Market Sq 2",
        weekday=3,
        opens=time(15),
        closes=time(18),
        capacity=3,
    )
    tomatoes = Crop(name="Tomatoes", unit="kg", step_milli=50)
    pumpkins = Crop(name="Pumpkins", unit="piece", step_milli=1000)
    db.session.add_all([season, full, half, family, tue, thu, tomatoes, pumpkins])
    db.session.flush()
    return Farm(season, full, half, family, tue, thu, tomatoes, pumpkins)


def add_member(
    farm: Farm,
    name: str | None = None,
    share_type: ShareType | None = None,
    shares: int = 1,
    site: PickupSite | None = None,
    status: MembershipStatus = MembershipStatus.ACTIVE,
    email: str | None = None,
) -> Membership:
    n = next(_seq)
    member = Member(name=name or f"Member {n}", email=email or f"member{n}@example.org")
    membership = Membership(
        member=member,
        season=farm.season,
        share_type=share_type or farm.full,
        shares=shares,
        site=site or farm.tuesday,
        start=farm.season.start,
        end=farm.season.end,
        status=status,
    )
    db.session.add_all([member, membership])
    db.session.flush()
    farm.members.append(member)
    return membership
