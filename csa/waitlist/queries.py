"""Reads for the waiting-list pages: each site's list of a season with its offers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from csa.extensions import db
from csa.models import (
    Member,
    Membership,
    MembershipStatus,
    OfferState,
    PickupSite,
    PlaceOffer,
    Season,
)
from csa.register import waiting


@dataclass
class WaitingRow:
    position: int
    membership: Membership
    offers: list[PlaceOffer]  # newest first

    @property
    def open_offer(self) -> PlaceOffer | None:
        return next((o for o in self.offers if o.state == OfferState.OPEN), None)


@dataclass
class SiteList:
    site: PickupSite
    taken: int
    free: int
    rows: list[WaitingRow] = field(default_factory=list)
    past_offers: list[PlaceOffer] = field(default_factory=list)  # of those no longer waiting

    @property
    def open_count(self) -> int:
        return sum(1 for row in self.rows if row.open_offer is not None)


def site_lists(season: Season) -> list[SiteList]:
    """Every active site (and any other with households waiting) with its list in order."""
    offers: dict[int, list[PlaceOffer]] = defaultdict(list)
    for offer in db.session.scalars(
        select(PlaceOffer)
        .options(joinedload(PlaceOffer.membership).joinedload(Membership.member))
        .where(PlaceOffer.season_id == season.id)
        .order_by(PlaceOffer.offered_at.desc(), PlaceOffer.id.desc())
    ):
        offers[offer.membership_id].append(offer)
    waiting_sites = select(Membership.site_id).where(
        Membership.season_id == season.id, Membership.status == MembershipStatus.WAITING
    )
    sites = db.session.scalars(
        select(PickupSite)
        .where(PickupSite.active | PickupSite.id.in_(waiting_sites))
        .order_by(PickupSite.name)
    )
    lists = []
    for site in sites:
        line = waiting.waiting_list(site.id, season.id)
        rows = [WaitingRow(i, m, offers.get(m.id, [])) for i, m in enumerate(line, start=1)]
        on_list = {m.id for m in line}
        past = [
            o
            for ms_id, of_ms in offers.items()
            if ms_id not in on_list
            for o in of_ms
            if o.site_id == site.id
        ]
        past.sort(key=lambda o: o.offered_at, reverse=True)
        lists.append(
            SiteList(
                site,
                waiting.places_taken(site.id, season.id),
                waiting.free_places(site, season),
                rows,
                past,
            )
        )
    return lists


def seasons() -> list[Season]:
    return list(db.session.scalars(select(Season).order_by(Season.start.desc())))


def open_offer_for(member: Member) -> PlaceOffer | None:
    """A household's open offer, if it has one (the newest)."""
    return db.session.scalar(
        select(PlaceOffer)
        .join(Membership, Membership.id == PlaceOffer.membership_id)
        .where(Membership.member_id == member.id, PlaceOffer.state == OfferState.OPEN)
        .order_by(PlaceOffer.offered_at.desc())
        .limit(1)
    )
