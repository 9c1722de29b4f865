"""The demo's food-sharing partners: "Tafel am Markt" collects the donated shares of two
sites and every round's surplus, a foodsharing point those of a third; the fourth site has
no partner (its round pages say so). The past rounds count as settled, so loading the demo
mails no partner; the demo household gave one past share away."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from csa.extensions import db
from csa.models import (
    LOCKED_STATES,
    Allocation,
    DonationRound,
    DonationRoute,
    Hold,
    HoldMode,
    Membership,
    PartnerOrganisation,
    PickupSite,
    Round,
    Season,
)

TAFEL = "Tafel am Markt"
FOODSHARING = "Foodsharing Wieliczka"
ROUTES = {"Old Mill": TAFEL, "Town Hall": TAFEL, "Green School": FOODSHARING}


def load_demo(today: date, season: Season, memberships: list[Membership]) -> str:
    """Partners, routes, the settled past rounds and one donated share of the demo member."""
    tafel = PartnerOrganisation(
        name=TAFEL,
        contact_name="Greta Klein",
        email="tafel@example.org",
        phone="+48 12 345 67 89",
        address="Rynek 5, Kraków",
        pickup_note="Collects with its van after the pickup closes; the surplus at the farm "
        "gate on the same evening.",
        takes_surplus=True,
    )
    point = PartnerOrganisation(
        name=FOODSHARING,
        contact_name="Ola Nowak",
        email="fairteiler@example.org",
        pickup_note="Volunteers take the shares to the fridge at the library.",
    )
    db.session.add_all([tafel, point])
    db.session.flush()
    partners = {TAFEL: tafel, FOODSHARING: point}
    sites = {s.name: s for s in db.session.scalars(select(PickupSite))}
    for site_name, partner_name in ROUTES.items():
        if site_name in sites:
            db.session.add(
                DonationRoute(
                    site_id=sites[site_name].id,
                    partner_id=partners[partner_name].id,
                    note="after the pickup, at the back door" if partner_name == TAFEL else "",
                )
            )
    rounds = list(
        db.session.scalars(
            select(Round)
            .where(
                Round.status.in_(LOCKED_STATES),
                Round.date >= season.start,
                Round.date <= season.end,
            )
            .order_by(Round.date)
        )
    )
    for round_ in rounds:
        db.session.add(DonationRound(round_id=round_.id, surplus_partner_id=tafel.id))
    given = _demo_household_donates(memberships[0], rounds) if memberships else None
    db.session.flush()
    when = f", the demo household gave {given.isoformat()}" if given else ""
    return f"food sharing: 2 partners, {len(ROUTES)} routes{when}"


def _demo_household_donates(own: Membership, rounds: list[Round]) -> date | None:
    """The demo household's latest past round without a hold becomes a donated one: a hold
    that donates and its cells marked donated, exactly what the lock would have stored (a
    donated share is split as usual, then given away)."""
    held = set(db.session.scalars(select(Hold.round_date).where(Hold.membership_id == own.id)))
    for round_ in reversed(rounds):
        if round_.date in held:
            continue
        cells = db.session.scalar(
            select(Allocation.id)
            .where(Allocation.round_id == round_.id, Allocation.membership_id == own.id)
            .limit(1)
        )
        if cells is None:
            continue
        db.session.add(Hold(membership_id=own.id, round_date=round_.date, mode=HoldMode.DONATE))
        db.session.execute(
            update(Allocation)
            .where(Allocation.round_id == round_.id, Allocation.membership_id == own.id)
            .values(donated=True)
        )
        return round_.date
    return None
