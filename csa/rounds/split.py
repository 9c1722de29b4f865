"""The split of a round, from the database: gather rows, call csa.core.allocation, store at lock.

An open round is split afresh whenever it is shown; a locked round is read back from its
stored allocations and never recomputed, so it cannot change silently.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from flask_babel import gettext as _
from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import joinedload

from csa.core.allocation import (
    Claimant,
    CropHarvest,
    CropSplit,
    Share,
    split_round,
    stored_share,
)
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


@dataclass
class RoundSplit:
    """Everything a page, a sheet or an export needs about one round's split."""

    round: Round
    sites: list[PickupSite]
    memberships: dict[int, Membership]  # every membership with a part in the round
    crops: dict[int, Crop]
    harvested: dict[int, int]  # crop_id -> milli
    splits: dict[int, CropSplit]  # crop_id -> split
    holds: dict[int, HoldMode] = field(default_factory=dict)  # membership_id -> mode
    stored: bool = False

    def cell(self, membership_id: int, crop_id: int) -> Share | None:
        split = self.splits.get(crop_id)
        if split is None:
            return None
        return self._index.get((membership_id, crop_id))

    def __post_init__(self) -> None:
        self._index = {
            (s.membership_id, s.crop_id): s for split in self.splits.values() for s in split.shares
        }

    def shares_of(self, membership_id: int) -> list[Share]:
        """The membership's shares, in crop name order."""
        rows = [self._index.get((membership_id, c.id)) for c in self.crop_list]
        return [r for r in rows if r is not None]

    @property
    def crop_list(self) -> list[Crop]:
        return sorted(self.crops.values(), key=lambda c: c.name.lower())

    @property
    def membership_list(self) -> list[Membership]:
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


def eligible_memberships(on_date: date, sites: list[PickupSite]) -> list[Membership]:
    """Memberships active on the date at a site that serves it (holds are applied later)."""
    if not sites:
        return []
    return list(
        db.session.scalars(
            select(Membership)
            .options(
                joinedload(Membership.member),
                joinedload(Membership.share_type),
                joinedload(Membership.site),
            )
            .where(
                Membership.status == MembershipStatus.ACTIVE,
                Membership.start <= on_date,
                Membership.end >= on_date,
                Membership.site_id.in_([s.id for s in sites]),
            )
        ).unique()
    )


def holds_at(round_: Round, site_ids: Collection[int]) -> list[tuple[Membership, HoldMode]]:
    """Memberships on hold for a round at these sites (a stored split omits those whose share
    went to the others, so pages and sheets ask for them separately)."""
    if not site_ids:
        return []
    rows = db.session.execute(
        select(Hold.mode, Membership)
        .join(Membership, Membership.id == Hold.membership_id)
        .options(
            joinedload(Membership.member),
            joinedload(Membership.share_type),
            joinedload(Membership.site),
        )
        .where(
            Hold.round_date == round_.date,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.start <= round_.date,
            Membership.end >= round_.date,
            Membership.site_id.in_(list(site_ids)),
        )
    ).all()
    return [(m, mode) for mode, m in rows]


def harvest_totals(round_: Round) -> dict[int, int]:
    """Total harvested per crop in a round (several entries of one crop add up)."""
    rows = db.session.execute(
        select(HarvestEntry.crop_id, func.sum(HarvestEntry.quantity_milli))
        .where(HarvestEntry.round_id == round_.id)
        .group_by(HarvestEntry.crop_id)
    )
    return {crop_id: int(total) for crop_id, total in rows}


def balances_before(on_date: date, membership_ids: list[int]) -> dict[tuple[int, int], Fraction]:
    """Season balance per (membership, crop): taken from each pair's latest locked round.

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


def compute_split(round_: Round, extra: dict[int, int] | None = None) -> RoundSplit:
    """Split a round from the current data (harvest, memberships, holds, opt-outs).

    `extra` (crop_id -> milli) adds quantities not recorded yet, for the harvest form's
    live preview; nothing is written either way.
    """
    sites = sites_serving(round_.schedule_date)
    memberships = eligible_memberships(round_.date, sites)
    by_id = {m.id: m for m in memberships}
    holds = {
        h.membership_id: h.mode
        for h in db.session.scalars(
            select(Hold).where(Hold.round_date == round_.date, Hold.membership_id.in_(by_id))
        )
    }
    claimants = [
        Claimant(m.id, m.weight_milli, donated=holds.get(m.id) == HoldMode.DONATE)
        for m in memberships
        if holds.get(m.id) != HoldMode.OTHERS
    ]
    opt_outs = {
        (mid, cid)
        for mid, cid in db.session.execute(
            select(OptOut.membership_id, OptOut.crop_id).where(OptOut.membership_id.in_(by_id))
        )
    }
    harvested = harvest_totals(round_)
    for crop_id, quantity in (extra or {}).items():
        if quantity > 0:
            harvested[crop_id] = harvested.get(crop_id, 0) + quantity
    crops = {c.id: c for c in db.session.scalars(select(Crop).where(Crop.id.in_(harvested)))}
    harvests = [CropHarvest(cid, qty, crops[cid].step_milli) for cid, qty in harvested.items()]
    balances = balances_before(round_.date, [c.membership_id for c in claimants])
    splits = split_round(round_.date.isoformat(), harvests, claimants, balances, opt_outs)
    return RoundSplit(round_, sites, by_id, crops, harvested, splits, holds)


def stored_split(round_: Round) -> RoundSplit:
    """Read a locked round's split back exactly as it was stored."""
    rows = list(db.session.scalars(select(Allocation).where(Allocation.round_id == round_.id)))
    surplus_rows = list(
        db.session.scalars(select(RoundSurplus).where(RoundSurplus.round_id == round_.id))
    )
    mids = {r.membership_id for r in rows}
    memberships = {
        m.id: m
        for m in db.session.scalars(
            select(Membership)
            .options(
                joinedload(Membership.member),
                joinedload(Membership.share_type),
                joinedload(Membership.site),
            )
            .where(Membership.id.in_(mids))
        ).unique()
    }
    crop_ids = {s.crop_id for s in surplus_rows}
    crops = {c.id: c for c in db.session.scalars(select(Crop).where(Crop.id.in_(crop_ids)))}
    shares: dict[int, list[Share]] = defaultdict(list)
    for r in rows:
        shares[r.crop_id].append(
            stored_share(
                r.membership_id,
                r.crop_id,
                crops[r.crop_id].step_milli,
                r.units,
                Fraction(r.entitled_num, r.entitled_den),
                Fraction(r.balance_num, r.balance_den),
                r.donated,
            )
        )
    splits = {
        s.crop_id: CropSplit(
            crop_id=s.crop_id,
            units=(s.harvested_milli - s.surplus_milli) // crops[s.crop_id].step_milli,
            surplus=s.surplus_milli,
            shares=sorted(shares.get(s.crop_id, []), key=lambda x: x.membership_id),
        )
        for s in surplus_rows
    }
    holds = {
        h.membership_id: h.mode
        for h in db.session.scalars(
            select(Hold).where(Hold.round_date == round_.date, Hold.membership_id.in_(mids))
        )
    }
    sites = sorted({m.site for m in memberships.values()}, key=lambda s: s.name.lower())
    harvested = {s.crop_id: s.harvested_milli for s in surplus_rows}
    return RoundSplit(round_, sites, memberships, crops, harvested, splits, holds, stored=True)


def round_split(round_: Round) -> RoundSplit:
    """The split to show: stored once locked, computed from the data before."""
    return stored_split(round_) if round_.status in LOCKED else compute_split(round_)


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
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in split.membership_list:
        for s in split.shares_of(m.id):
            if s.quantity <= 0:
                continue
            crop = split.crops[s.crop_id]
            writer.writerow(
                [
                    split.round.date.isoformat(),
                    m.site.name,
                    m.member.name,
                    m.member.email,
                    m.share_type.name,
                    m.shares,
                    crop.name,
                    milli_to_str(s.quantity),
                    crop.unit,
                ]
            )
    return out.getvalue()
