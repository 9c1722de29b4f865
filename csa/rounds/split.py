"""The split of a round, from the database: gather rows, call csa.core.allocation, store at lock.

The read model: `RoundSplit` (a whole round, complete with holds and opt-outs) for staff
pages, sheets and exports; `MemberSplit` (one membership's cells) for the member's pages.
An open round is split once per data version and reused (csa/rounds/freshness.py); a
locked round is read back from its stored allocations and never recomputed, so it cannot
change silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from flask_babel import gettext as _
from sqlalchemy import and_, func, insert, select

from csa.changes.terms import InForce, in_force, sites_at, weights_at
from csa.core.allocation import (
    Claimant,
    CropHarvest,
    CropSplit,
    Share,
    split_round,
    stored_share,
)
from csa.core.csvfile import csv_text
from csa.core.names import person_key, place_key
from csa.core.quantity import milli_to_str
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    LOCKED_STATES,
    Allocation,
    Crop,
    HarvestEntry,
    Hold,
    HoldMode,
    Membership,
    MembershipStatus,
    OptOut,
    PickupSite,
    Round,
    RoundSurplus,
)
from csa.rounds.freshness import carried_balances, live_split_inputs, live_splits

LOCKED = LOCKED_STATES
CSV_COLUMNS = [
    "round_date",
    "site",
    "member",
    "email",
    "share_type",
    "shares",
    "crop",
    "quantity",
    "unit",
]


@dataclass(frozen=True, slots=True)
class LiveSplit:
    """An open round's split as plain data (ids and `csa.core.allocation` results only), so
    it can be cached across requests (csa/rounds/freshness.py) without holding ORM objects.
    """

    site_ids: tuple[int, ...]
    membership_ids: frozenset[int]  # every eligible membership, on hold or not
    holds: dict[int, HoldMode]  # membership_id -> mode, for eligible memberships
    opt_outs: frozenset[tuple[int, int]]  # (membership_id, crop_id) of eligible memberships
    harvested: dict[int, int]  # crop_id -> milli
    splits: dict[int, CropSplit]
    by_membership: dict[int, list[Share]]  # each membership's shares, in crop name order
    _cells: dict[tuple[int, int], Share] = field(default_factory=dict, repr=False)

    @property
    def cells(self) -> dict[tuple[int, int], Share]:
        """(membership_id, crop_id) -> Share, built on first use (only whole-round pages
        need it) and kept with the cached split."""
        if not self._cells and self.splits:
            self._cells.update(_index(self.splits))
        return self._cells


def _index(splits: dict[int, CropSplit]) -> dict[tuple[int, int], Share]:
    """Every cell by (membership_id, crop_id); the crop id comes from the loop, not the share."""
    return {(s.membership_id, cid): s for cid, split in splits.items() for s in split.shares}


@dataclass
class RoundSplit:
    """Everything a page, a sheet or an export needs about one round's split.

    Complete: `memberships` and `holds` include members on hold whose share went to the
    others (they have no cells), and `opt_outs` the crops each membership took no part in,
    so no consumer adds them afterwards.
    """

    round: Round
    sites: list[PickupSite]
    # every membership with a part in the round, with its terms in force on the round's date
    memberships: dict[int, InForce]
    crops: dict[int, Crop]
    harvested: dict[int, int]  # crop_id -> milli
    splits: dict[int, CropSplit]  # crop_id -> split
    holds: dict[int, HoldMode] = field(default_factory=dict)  # membership_id -> mode
    stored: bool = False
    opt_outs: frozenset[tuple[int, int]] = frozenset()  # (membership_id, crop_id)
    index: dict[tuple[int, int], Share] | None = field(default=None, repr=False)

    @property
    def _index(self) -> dict[tuple[int, int], Share]:
        if self.index is None:
            self.index = _index(self.splits)
        return self.index

    def cell(self, membership_id: int, crop_id: int) -> Share | None:
        return self._index.get((membership_id, crop_id))

    def shares_of(self, membership_id: int) -> list[Share]:
        """The membership's shares, in crop name order."""
        index = self._index
        rows = [index.get((membership_id, c.id)) for c in self.crop_list]
        return [r for r in rows if r is not None]

    @property
    def crop_list(self) -> list[Crop]:
        return sorted(self.crops.values(), key=lambda c: c.name.lower())

    @property
    def membership_list(self) -> list[InForce]:
        return sorted(
            self.memberships.values(),
            key=lambda m: (place_key(m.site.name, m.site_id), person_key(m.member.name, m.id)),
        )

    def donated(self, crop_id: int) -> int:
        split = self.splits.get(crop_id)
        return sum(s.quantity for s in split.shares if s.donated) if split else 0

    def surplus(self, crop_id: int) -> int:
        split = self.splits.get(crop_id)
        return split.surplus if split else self.harvested.get(crop_id, 0)


@dataclass
class MemberSplit:
    """One membership's part of a round, for the member's own pages (about 30 cells)."""

    round: Round
    membership_id: int
    shares: list[Share]  # every cell of the membership, in crop name order
    crops: dict[int, Crop]  # the crops of those cells
    hold: HoldMode | None
    in_round: bool  # has cells or a hold in this round
    stored: bool

    @property
    def received(self) -> list[Share]:
        """The cells with something in them."""
        return [s for s in self.shares if s.quantity > 0]


def round_on(on_date: date) -> Round | None:
    return db.session.scalar(select(Round).where(Round.date == on_date))


def get_round(on_date: date) -> Round:
    found = round_on(on_date)
    if found is None:
        raise ValidationFailed(_("There is no round on %(date)s.", date=on_date.isoformat()))
    return found


def sites_serving(on_date: date) -> list[PickupSite]:
    """Active sites whose weekday (and every-other-week rhythm) fall on this date."""
    sites = db.session.scalars(
        select(PickupSite).where(PickupSite.active, PickupSite.weekday == on_date.weekday())
    )
    return sorted((s for s in sites if s.serves(on_date)), key=lambda s: s.name.lower())


def eligible_memberships(on_date: date, sites: list[PickupSite]) -> list[InForce]:
    """Memberships active on the date whose site in force then serves it (holds are applied
    later), with their terms on that date (csa/changes/terms.py)."""
    if not sites:
        return []
    return list(in_force(on_date, weights_at(on_date, [s.id for s in sites])).values())


def holds_at(round_: Round, site_ids: Collection[int]) -> list[tuple[InForce, HoldMode]]:
    """Memberships on hold for a round at these sites (a stored split omits those whose share
    went to the others, so pages and sheets ask for them separately)."""
    if not site_ids:
        return []
    modes = dict(
        db.session.execute(
            select(Hold.membership_id, Hold.mode).where(Hold.round_date == round_.date)
        ).all()
    )
    eligible = weights_at(round_.date, site_ids)
    placed = in_force(round_.date, [mid for mid in modes if mid in eligible])
    return [(m, modes[mid]) for mid, m in placed.items()]


def harvest_totals(round_: Round) -> dict[int, int]:
    """Total harvested per crop in a round (several entries of one crop add up)."""
    rows = db.session.execute(
        select(HarvestEntry.crop_id, func.sum(HarvestEntry.quantity_milli))
        .where(HarvestEntry.round_id == round_.id)
        .group_by(HarvestEntry.crop_id)
    )
    return {crop_id: int(total) for crop_id, total in rows}


def balances_before(
    on_date: date, membership_ids: Collection[int]
) -> Mapping[tuple[int, int], Fraction]:
    """Season balance per (membership, crop) carried into a round on `on_date`.

    Read once per balance version (allocations and rounds) and kept, as the live split is
    (csa/rounds/freshness.py): most of an open round's recompute. Read-only for callers.
    """
    ids = frozenset(membership_ids)
    return carried_balances.get_or_compute(
        (on_date, ids), lambda: _read_balances(on_date, sorted(ids))
    )


def _read_balances(on_date: date, membership_ids: list[int]) -> dict[tuple[int, int], Fraction]:
    """Each pair's balance from its latest locked round before `on_date`.

    A membership belongs to one season, so its balance never crosses seasons. The balance
    after a locked round is balance_in + entitlement - units of that round's allocation.
    """
    if not membership_ids:
        return {}
    latest = (
        select(
            Allocation.membership_id.label("mid"),
            Allocation.crop_id.label("cid"),
            func.max(Round.date).label("d"),
        )
        .join(Round, Round.id == Allocation.round_id)
        .where(Round.date < on_date, Round.status.in_(LOCKED))
        .where(Allocation.membership_id.in_(membership_ids))
        .group_by(Allocation.membership_id, Allocation.crop_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            Allocation.membership_id,
            Allocation.crop_id,
            Allocation.units,
            Allocation.entitled_num,
            Allocation.entitled_den,
            Allocation.balance_num,
            Allocation.balance_den,
        )
        .join(Round, Round.id == Allocation.round_id)
        .join(
            latest,
            and_(
                latest.c.mid == Allocation.membership_id,
                latest.c.cid == Allocation.crop_id,
                latest.c.d == Round.date,
            ),
        )
    )
    balances: dict[tuple[int, int], Fraction] = {}
    for mid, cid, units, en, ed, bn, bd in rows:
        value = Fraction(bn, bd) + Fraction(en, ed) - units
        if value:
            balances[(mid, cid)] = value
    return balances


def _crop_order(crops: dict[int, tuple[str, int]]) -> list[int]:
    """Crop ids in name order (case-folded), as every page lists them."""
    return sorted(crops, key=lambda cid: crops[cid][0].lower())


def _by_membership(splits: dict[int, CropSplit], order: list[int]) -> dict[int, list[Share]]:
    out: dict[int, list[Share]] = defaultdict(list)
    for cid in order:
        crop_split = splits.get(cid)
        for s in crop_split.shares if crop_split else ():
            out[s.membership_id].append(s)
    return dict(out)


@dataclass(frozen=True)
class LiveInputs:
    """Everything an open round's split depends on except its harvest, as plain data.

    Kept per data version (csa/rounds/freshness.py), which harvest entries do not move: a
    harvest save splits again from these, with the round's new totals, and reads no
    membership, hold or balance again.
    """

    site_ids: tuple[int, ...]
    weights: dict[int, int]  # every eligible membership -> weight
    holds: dict[int, HoldMode]
    claimants: list[Claimant]
    opt_outs: frozenset[tuple[int, int]]
    balances: Mapping[tuple[int, int], Fraction]
    crops: dict[int, tuple[str, int]]  # every crop: name, step


def _read_inputs(round_: Round) -> LiveInputs:
    """Read an open round's inputs but its harvest, as columns, not ORM entities."""
    sites = sites_serving(round_.schedule_date)
    site_ids = tuple(s.id for s in sites)
    on_date = round_.date
    # The share type, count and site in force on the round's date (one query for all).
    weights = weights_at(on_date, site_ids)
    holds = {
        mid: mode
        for mid, mode in db.session.execute(
            select(Hold.membership_id, Hold.mode).where(Hold.round_date == on_date)
        )
        if mid in weights
    }
    claimants = [
        Claimant(mid, weight, donated=holds.get(mid) == HoldMode.DONATE)
        for mid, weight in weights.items()
        if holds.get(mid) != HoldMode.OTHERS
    ]
    opt_outs = frozenset(
        (mid, cid)
        for mid, cid in db.session.execute(select(OptOut.membership_id, OptOut.crop_id))
        if mid in weights
    )
    crops = {
        cid: (name, step)
        for cid, name, step in db.session.execute(select(Crop.id, Crop.name, Crop.step_milli))
    }
    balances = balances_before(on_date, [c.membership_id for c in claimants])
    return LiveInputs(site_ids, weights, holds, claimants, opt_outs, balances, crops)


def live_inputs(round_: Round) -> LiveInputs:
    return live_split_inputs.get_or_compute(round_.id, lambda: _read_inputs(round_))


def _compute_live(
    round_: Round, extra: dict[int, int] | None = None, harvested: dict[int, int] | None = None
) -> LiveSplit:
    """Split an open round: its inputs (kept per data version) and its harvest totals."""
    inputs = live_inputs(round_)
    harvested = dict(harvest_totals(round_) if harvested is None else harvested)
    for crop_id, quantity in (extra or {}).items():
        if quantity > 0:
            harvested[crop_id] = harvested.get(crop_id, 0) + quantity
    crops = {cid: inputs.crops[cid] for cid in harvested}
    harvests = [CropHarvest(cid, qty, crops[cid][1]) for cid, qty in harvested.items()]
    splits = split_round(
        round_.date.isoformat(), harvests, inputs.claimants, inputs.balances, inputs.opt_outs
    )
    return LiveSplit(
        site_ids=inputs.site_ids,
        membership_ids=frozenset(inputs.weights),
        holds=inputs.holds,
        opt_outs=inputs.opt_outs,
        harvested=harvested,
        splits=splits,
        by_membership=_by_membership(splits, _crop_order(crops)),
    )


def live_split(round_: Round) -> LiveSplit:
    """The open round's split at the current data version and harvest: computed once, then
    reused. The key holds the round's harvest totals (one small query per view), so a
    harvest save splits again only the round it changed."""
    harvested = harvest_totals(round_)
    key = (round_.id, tuple(sorted(harvested.items())))
    return live_splits.get_or_compute(key, lambda: _compute_live(round_, harvested=harvested))


def _memberships(on_date: date, ids: Collection[int]) -> dict[int, InForce]:
    """The memberships with the terms in force on the round's date."""
    return in_force(on_date, ids)


def _crops(ids: Collection[int]) -> dict[int, Crop]:
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Crop).where(Crop.id.in_(list(ids))))}


def compute_split(round_: Round, extra: dict[int, int] | None = None) -> RoundSplit:
    """Split a round from the current data (harvest, memberships, holds, opt-outs).

    Reuses the cached split of this data version (csa/rounds/freshness.py). `extra`
    (crop_id -> milli) adds quantities not recorded yet, for the harvest form's live
    preview: computed afresh and never cached; nothing is written either way.
    """
    live = _compute_live(round_, extra) if extra else live_split(round_)
    sites = sorted(
        db.session.scalars(select(PickupSite).where(PickupSite.id.in_(live.site_ids))),
        key=lambda s: s.name.lower(),
    )
    return RoundSplit(
        round_,
        sites,
        _memberships(round_.date, live.membership_ids),
        _crops(live.harvested),
        dict(live.harvested),
        live.splits,
        dict(live.holds),
        opt_outs=live.opt_outs,
        index=live.cells,
    )


def stored_split(round_: Round) -> RoundSplit:
    """Read a locked round's split back exactly as it was stored, with its holds.

    Allocation rows are read as columns (150,000 ORM objects at 5,000 x 30 took seconds).
    """
    rows = db.session.execute(
        select(
            Allocation.membership_id,
            Allocation.crop_id,
            Allocation.units,
            Allocation.entitled_num,
            Allocation.entitled_den,
            Allocation.balance_num,
            Allocation.balance_den,
            Allocation.donated,
        ).where(Allocation.round_id == round_.id)
    ).all()
    surplus_rows = db.session.execute(
        select(
            RoundSurplus.crop_id, RoundSurplus.harvested_milli, RoundSurplus.surplus_milli
        ).where(RoundSurplus.round_id == round_.id)
    ).all()
    crops = _crops({cid for cid, _h, _s in surplus_rows})
    steps = {cid: c.step_milli for cid, c in crops.items()}
    shares: dict[int, list[Share]] = defaultdict(list)
    for mid, cid, units, en, ed, bn, bd, donated in rows:
        shares[cid].append(
            stored_share(mid, cid, steps[cid], units, Fraction(en, ed), Fraction(bn, bd), donated)
        )
    splits = {
        cid: CropSplit(
            crop_id=cid,
            units=(harvested - surplus) // steps[cid],
            surplus=surplus,
            shares=sorted(shares.get(cid, []), key=lambda x: x.membership_id),
        )
        for cid, harvested, surplus in surplus_rows
    }
    with_cells = {mid for mid, *_rest in rows}
    served = {s.id for s in sites_serving(round_.schedule_date)}
    holds = _locked_holds(round_, with_cells, served)
    memberships = _memberships(round_.date, with_cells | holds.keys())
    sites = sorted({m.site for m in memberships.values()}, key=lambda s: s.name.lower())
    cells = {(mid, cid) for mid, cid, *_rest in rows}
    # A claimant gets a cell of every crop split, even of 0 units: a missing one is an opt-out.
    opt_outs = frozenset(
        (mid, cid)
        for mid in with_cells
        if holds.get(mid) != HoldMode.OTHERS
        for cid in splits
        if (mid, cid) not in cells
    )
    harvested = {cid: h for cid, h, _s in surplus_rows}
    return RoundSplit(round_, sites, memberships, crops, harvested, splits, holds, True, opt_outs)


def _locked_holds(
    round_: Round, with_cells: Collection[int], served: Collection[int]
) -> dict[int, HoldMode]:
    """Holds on a locked round: of memberships with cells, or active then at a served site
    (the site in force on the round's date)."""
    rows = db.session.execute(
        select(Hold.membership_id, Hold.mode)
        .join(Membership, Membership.id == Hold.membership_id)
        .where(
            Hold.round_date == round_.date,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.start <= round_.date,
            Membership.end >= round_.date,
        )
    ).all()
    sites = sites_at(round_.date, [mid for mid, _mode in rows if mid not in with_cells])
    return {mid: mode for mid, mode in rows if mid in with_cells or sites.get(mid) in served}


def round_split(round_: Round) -> RoundSplit:
    """The split to show: stored once locked, computed from the data before."""
    return stored_split(round_) if round_.status in LOCKED else compute_split(round_)


def membership_split(
    round_: Round, membership: Membership, crops: dict[int, Crop] | None = None
) -> MemberSplit:
    """One membership's part of a round, without reading the whole round.

    Locked: its own allocation rows (about one per crop). Open: its cells of the cached
    live split, which is computed once per data version, not per view. `crops` (by id)
    when the page has loaded them already.
    """
    mid = membership.id
    if round_.status in LOCKED:
        rows = db.session.execute(
            select(
                Allocation.crop_id,
                Allocation.units,
                Allocation.entitled_num,
                Allocation.entitled_den,
                Allocation.balance_num,
                Allocation.balance_den,
                Allocation.donated,
            ).where(Allocation.round_id == round_.id, Allocation.membership_id == mid)
        ).all()
        hold = db.session.scalar(
            select(Hold.mode).where(Hold.membership_id == mid, Hold.round_date == round_.date)
        )
        known = crops if crops is not None else _crops({row[0] for row in rows})
        mine = {row[0]: known[row[0]] for row in rows}
        ordered = sorted(rows, key=lambda row: mine[row[0]].name.lower())
        shares = [
            stored_share(
                mid, cid, mine[cid].step_milli, units, Fraction(en, ed), Fraction(bn, bd), donated
            )
            for cid, units, en, ed, bn, bd, donated in ordered
        ]
        in_round = bool(rows) or (hold is not None and membership.active_on(round_.date))
        return MemberSplit(round_, mid, shares, mine, hold, in_round, stored=True)
    live = live_split(round_)
    shares = live.by_membership.get(mid, [])
    ids = {s.crop_id for s in shares}
    mine = {cid: crops[cid] for cid in ids} if crops is not None else _crops(ids)
    return MemberSplit(
        round_,
        mid,
        list(shares),
        mine,
        live.holds.get(mid),
        mid in live.membership_ids,
        stored=False,
    )


def store_split(split: RoundSplit) -> int:
    """Write a computed split as allocation rows in bulk; return the number of rows."""
    round_id = split.round.id
    rows = []
    for crop_split in split.splits.values():
        for s in crop_split.shares:
            rows.append(
                {
                    "round_id": round_id,
                    "membership_id": s.membership_id,
                    "crop_id": s.crop_id,
                    "quantity_milli": s.quantity,
                    "units": s.units,
                    "entitled_num": s.entitlement.numerator,
                    "entitled_den": s.entitlement.denominator,
                    "balance_num": s.balance_in.numerator,
                    "balance_den": s.balance_in.denominator,
                    "adjustment": s.adjustment,
                    "donated": s.donated,
                }
            )
    if rows:
        db.session.execute(insert(Allocation), rows)
    surplus = [
        {
            "round_id": round_id,
            "crop_id": cid,
            "harvested_milli": split.harvested[cid],
            "surplus_milli": cs.surplus,
        }
        for cid, cs in split.splits.items()
    ]
    if surplus:
        db.session.execute(insert(RoundSurplus), surplus)
    return len(rows)


def export_csv(split: RoundSplit) -> str:
    """The round's allocations as CSV, one row per membership and crop with a quantity."""
    rows = (
        [
            split.round.date.isoformat(),
            m.site.name,
            m.member.name,
            m.member.email,
            m.share_type.name,
            m.shares,
            split.crops[s.crop_id].name,
            milli_to_str(s.quantity),
            split.crops[s.crop_id].unit,
        ]
        for m in split.membership_list
        for s in split.shares_of(m.id)
        if s.quantity > 0
    )
    return csv_text(CSV_COLUMNS, rows)
