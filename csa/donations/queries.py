"""What goes to the food-sharing partners: per locked round and partner, and per season.

Three things are given away in a locked round (docs/community/donations.md):

1. the shares of memberships on a hold that donates them (the split marks their cells
   `donated`: a donated share is split as usual, then given away);
2. the shares other features report as donated (`csa.community.donated.donated_shares`:
   an offered share nobody took); their contents are the membership's cells in the split,
   so a share is never counted twice;
3. the round's surplus, what the split could not hand out, when a partner takes it.

Shares go to the partner routed from the membership's pickup site (`DonationRoute`); the
surplus to the partner that took it when the round was settled (`DonationRound`), or, for
a round not settled yet, to the partner that takes the surplus now. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.sql import Executable

from csa.community.donated import donated_shares
from csa.core.names import fold
from csa.extensions import db
from csa.models import (
    LOCKED_STATES,
    Allocation,
    Crop,
    DonationNotice,
    DonationRound,
    DonationRoute,
    HoldMode,
    Membership,
    PartnerOrganisation,
    PickupSite,
    Round,
    RoundSurplus,
    Season,
)
from csa.rounds.lifecycle import season_on
from csa.rounds.split import RoundSplit, stored_split
from csa.ui.formatting import QuantityFormatter


@dataclass
class Load:
    """What one partner collects at one place in one round (or what nobody collects there).

    `site` is None for the round's surplus (it is packed at the farm, not at a site).
    """

    site: PickupSite | None
    note: str = ""  # the route's "where and when" at this site
    shares: int = 0  # donated shares (memberships), counted, never named
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> shares
    milli: dict[int, int] = field(default_factory=dict)  # crop_id -> quantity

    def add(self, crop_id: int, quantity: int) -> None:
        if quantity > 0:
            self.milli[crop_id] = self.milli.get(crop_id, 0) + quantity


@dataclass
class PartnerLoad:
    partner: PartnerOrganisation
    places: list[Load] = field(default_factory=list)  # by site name; the surplus last

    @property
    def milli(self) -> dict[int, int]:
        """Everything the partner collects this round, per crop."""
        total: dict[int, int] = defaultdict(int)
        for place in self.places:
            for crop_id, quantity in place.milli.items():
                total[crop_id] += quantity
        return dict(total)

    @property
    def empty(self) -> bool:
        return not any(p.milli for p in self.places)


@dataclass
class RoundDonations:
    round: Round
    crops: dict[int, Crop]
    partners: list[PartnerLoad]  # every active partner, by name, with or without a load
    unrouted: list[Load]  # donated shares at sites no partner collects from
    surplus_left: Load | None  # the surplus when no partner takes it

    def lines(self, load: Load) -> list[tuple[Crop, int]]:
        """A load's quantities in crop-name order, as every page lists crops."""
        return sorted(
            ((self.crops[cid], q) for cid, q in load.milli.items() if q > 0),
            key=lambda line: (fold(line[0].name), line[0].id),
        )

    def of(self, partner_id: int) -> PartnerLoad | None:
        return next((p for p in self.partners if p.partner.id == partner_id), None)


def active_partners() -> list[PartnerOrganisation]:
    rows = db.session.scalars(select(PartnerOrganisation).where(PartnerOrganisation.active))
    return sorted(rows, key=lambda p: (fold(p.name), p.id))


def all_partners() -> list[PartnerOrganisation]:
    rows = db.session.scalars(select(PartnerOrganisation))
    return sorted(rows, key=lambda p: (not p.active, fold(p.name), p.id))


def routes() -> dict[int, DonationRoute]:
    """Every route by site id."""
    return {r.site_id: r for r in db.session.scalars(select(DonationRoute))}


def surplus_partner() -> PartnerOrganisation | None:
    """The active partner that takes the surplus now, if any."""
    return db.session.scalar(
        select(PartnerOrganisation)
        .where(PartnerOrganisation.active, PartnerOrganisation.takes_surplus)
        .order_by(PartnerOrganisation.id)
        .limit(1)
    )


def round_surplus_partner_id(round_: Round) -> int | None:
    """Who takes this round's surplus: as settled, else as set now."""
    settled = db.session.get(DonationRound, round_.id)
    if settled is not None:
        return settled.surplus_partner_id
    current = surplus_partner()
    return current.id if current is not None else None


def donated_reasons(round_: Round, split: RoundSplit) -> dict[int, str]:
    """membership_id -> why its share is given away, for every donated share of the round."""
    found: dict[int, str] = {}
    on_hold = _("on hold, donated")
    for mid, mode in split.holds.items():
        if mode == HoldMode.DONATE:
            found[mid] = on_hold
    for crop_split in split.splits.values():
        for share in crop_split.shares:
            if share.donated:
                found.setdefault(share.membership_id, on_hold)
    for other in donated_shares(round_):
        found.setdefault(other.membership_id, other.reason)
    return found


def round_donations(round_: Round, split: RoundSplit | None = None) -> RoundDonations:
    """What each active partner collects in a locked round (read from its stored split)."""
    if round_.status not in LOCKED_STATES:
        raise ValueError("only a locked round's donations are known")
    split = split if split is not None else stored_split(round_)
    partners = {p.id: PartnerLoad(p) for p in active_partners()}
    by_site = routes()
    places: dict[tuple[int, int], Load] = {}  # (partner_id or 0, site_id) -> load
    for mid, reason in donated_reasons(round_, split).items():
        membership = split.memberships.get(mid)
        if membership is None:
            continue  # not in this round (another feature named a share of another site)
        site = membership.site
        route = by_site.get(site.id)
        partner_id = route.partner_id if route is not None and route.partner_id in partners else 0
        load = places.get((partner_id, site.id))
        if load is None:
            note = route.note if route is not None and partner_id else ""
            load = places[(partner_id, site.id)] = Load(site, note)
        load.shares += 1
        load.reasons[reason] = load.reasons.get(reason, 0) + 1
        for share in split.shares_of(mid):
            load.add(share.crop_id, share.quantity)
    unrouted = []
    for (partner_id, _site_id), load in sorted(
        places.items(), key=lambda kv: (fold(kv[1].site.name if kv[1].site else ""), kv[0])
    ):
        if partner_id:
            partners[partner_id].places.append(load)
        else:
            unrouted.append(load)
    surplus = Load(None)
    for crop_id in split.splits:
        surplus.add(crop_id, split.surplus(crop_id))
    taker = round_surplus_partner_id(round_)
    surplus_left: Load | None = None
    if surplus.milli:
        if taker in partners:
            partners[taker].places.append(surplus)
        else:
            surplus_left = surplus
    return RoundDonations(
        round_, dict(split.crops), list(partners.values()), unrouted, surplus_left
    )


# --- the season's totals -------------------------------------------------------------------


@dataclass
class Totals:
    """Quantities given away, per crop (thousandths of the crop's unit)."""

    crops: dict[int, Crop]
    milli: dict[int, int]
    rounds: int  # locked rounds counted

    def by_unit(self) -> list[tuple[str, int]]:
        """(unit, quantity) summed over the crops of each unit, kilograms first."""
        units: dict[str, int] = defaultdict(int)
        for crop_id, quantity in self.milli.items():
            units[self.crops[crop_id].unit] += quantity
        return sorted(units.items(), key=lambda u: (u[0] != "kg", u[0] != "piece", u[0]))

    def lines(self) -> list[tuple[Crop, int]]:
        return sorted(
            ((self.crops[cid], q) for cid, q in self.milli.items() if q > 0),
            key=lambda line: (fold(line[0].name), line[0].id),
        )

    def unit_text(self) -> str:
        fmt = QuantityFormatter()
        return " · ".join(fmt(q, unit) for unit, q in self.by_unit()) or "–"


def shown_season(today: date) -> Season | None:
    """The season whose totals the desk shows: the one running (or last begun), else the
    first to come."""
    found = season_on(today)
    if found is not None:
        return found
    return db.session.scalar(
        select(Season).where(Season.start > today).order_by(Season.start).limit(1)
    )


def season_rounds(season: Season, until: date | None = None) -> list[Round]:
    """The season's locked rounds, in date order."""
    query = select(Round).where(
        Round.status.in_(LOCKED_STATES), Round.date >= season.start, Round.date <= season.end
    )
    if until is not None:
        query = query.where(Round.date <= until)
    return list(db.session.scalars(query.order_by(Round.date)))


def _sum_by_crop(query: Executable) -> dict[int, int]:
    return {int(cid): int(total or 0) for cid, total in db.session.execute(query)}


def _other_donated(round_: Round) -> list[int]:
    """Memberships whose share another feature reports donated in this round."""
    return sorted({share.membership_id for share in donated_shares(round_)})


def season_totals(season: Season | None) -> Totals:
    """Everything given away in a season's locked rounds: donated shares and the surplus
    partners took. Donated shares count whether a partner is routed from their site or not
    (the member gave the share away either way); the surplus counts only when a partner
    took it, else the farm kept it."""
    if season is None:
        return Totals({}, {}, 0)
    rounds = season_rounds(season)
    ids = [r.id for r in rounds]
    milli: dict[int, int] = defaultdict(int)
    if ids:
        held = _sum_by_crop(
            select(Allocation.crop_id, func.sum(Allocation.quantity_milli))
            .where(Allocation.round_id.in_(ids), Allocation.donated)
            .group_by(Allocation.crop_id)
        )
        for cid, q in held.items():
            milli[cid] += q
        for round_ in rounds:
            others = _other_donated(round_)
            if not others:
                continue
            offered = _sum_by_crop(
                select(Allocation.crop_id, func.sum(Allocation.quantity_milli))
                .where(
                    Allocation.round_id == round_.id,
                    Allocation.membership_id.in_(others),
                    Allocation.donated.is_(False),
                )
                .group_by(Allocation.crop_id)
            )
            for cid, q in offered.items():
                milli[cid] += q
        taken = _surplus_rounds(ids)
        if taken:
            surplus = _sum_by_crop(
                select(RoundSurplus.crop_id, func.sum(RoundSurplus.surplus_milli))
                .where(RoundSurplus.round_id.in_(taken))
                .group_by(RoundSurplus.crop_id)
            )
            for cid, q in surplus.items():
                milli[cid] += q
    kept = {cid: q for cid, q in milli.items() if q > 0}
    crops = {c.id: c for c in db.session.scalars(select(Crop).where(Crop.id.in_(list(kept))))}
    return Totals(crops, kept, len(rounds))


def _surplus_rounds(round_ids: list[int]) -> list[int]:
    """Of these rounds, those whose surplus a partner took (as settled, else as set now)."""
    settled = dict(
        db.session.execute(
            select(DonationRound.round_id, DonationRound.surplus_partner_id).where(
                DonationRound.round_id.in_(round_ids)
            )
        ).all()
    )
    now = surplus_partner() is not None
    return [rid for rid in round_ids if (settled[rid] is not None if rid in settled else now)]


# --- one household's donations ---------------------------------------------------------------


@dataclass
class DonatedRound:
    round: Round
    reason: str
    lines: list[tuple[Crop, int]]


def household_donations(membership: Membership) -> list[DonatedRound]:
    """The locked rounds in which this membership's share was given away, with its contents
    (its own cells only: nothing of any other household)."""
    rounds = [
        r for r in season_rounds(membership.season) if membership.start <= r.date <= membership.end
    ]
    if not rounds:
        return []
    rows = db.session.execute(
        select(
            Allocation.round_id, Allocation.crop_id, Allocation.quantity_milli, Allocation.donated
        ).where(
            Allocation.membership_id == membership.id,
            Allocation.round_id.in_([r.id for r in rounds]),
        )
    ).all()
    cells: dict[int, list[tuple[int, int, bool]]] = defaultdict(list)
    for rid, cid, quantity, donated in rows:
        cells[rid].append((cid, quantity, donated))
    crops = {c.id: c for c in db.session.scalars(select(Crop))}
    found = []
    for round_ in rounds:
        own = cells.get(round_.id, [])
        reason = _("on hold, donated") if any(d for _c, _q, d in own) else None
        if reason is None:
            other = next(
                (s for s in donated_shares(round_) if s.membership_id == membership.id), None
            )
            reason = other.reason if other is not None else None
        if reason is None:
            continue
        lines = sorted(
            ((crops[cid], q) for cid, q, _d in own if q > 0),
            key=lambda line: (fold(line[0].name), line[0].id),
        )
        found.append(DonatedRound(round_, reason, lines))
    return found


def notices_of(round_: Round) -> dict[int, DonationNotice]:
    """The partners mailed about a round, by partner id."""
    rows = db.session.scalars(select(DonationNotice).where(DonationNotice.round_id == round_.id))
    return {n.partner_id: n for n in rows}


def settled(round_: Round) -> DonationRound | None:
    return db.session.get(DonationRound, round_.id)
