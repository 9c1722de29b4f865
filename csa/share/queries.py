"""A member's share, read: which rounds are theirs, the hold rule, opt-outs, the season so far.

Reads only; the writes (holds, opt-outs) are in csa/share/operations.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from csa.changes.terms import InForce, in_force_one, terms_over
from csa.core.allocation import Share
from csa.core.clock import utcnow
from csa.extensions import db
from csa.models import (
    OPEN_STATES,
    Allocation,
    Crop,
    Hold,
    HoldMode,
    Member,
    Membership,
    OptOut,
    Round,
    RoundStatus,
    Season,
)
from csa.rounds.split import LOCKED, membership_split

OPEN = OPEN_STATES


def _with_details(query: Select[Any]) -> Select[Any]:
    return query.options(
        joinedload(Membership.member),
        joinedload(Membership.share_type),
        joinedload(Membership.site),
        joinedload(Membership.season),
    )


def current_membership(member: Member, today: date) -> Membership | None:
    """The membership to show: this season's, else the next one, else the latest one."""
    rows = list(
        db.session.scalars(
            _with_details(select(Membership))
            .join(Season, Season.id == Membership.season_id)
            .where(Membership.member_id == member.id)
            .order_by(Season.start, Membership.id)
        ).unique()
    )
    current = [m for m in rows if m.season.start <= today <= m.season.end]
    if current:
        return current[-1]
    upcoming = [m for m in rows if m.season.start > today]
    if upcoming:
        return upcoming[0]
    return rows[-1] if rows else None


def membership_on(member: Member, on_date: date) -> Membership | None:
    """The member's membership whose contract covers a date (one per season)."""
    return db.session.scalars(
        _with_details(select(Membership))
        .where(
            Membership.member_id == member.id,
            Membership.start <= on_date,
            Membership.end >= on_date,
        )
        .order_by(Membership.start.desc())
    ).first()


def get_membership(membership_id: int) -> Membership | None:
    return db.session.scalars(
        _with_details(select(Membership)).where(Membership.id == membership_id)
    ).first()


def membership_rounds(membership: Membership) -> list[Round]:
    """The rounds of this membership: its site's dates in its contract, plus any it was given.

    The site's rhythm (not its active flag) decides, so the history stays after a site closes;
    a round with stored allocations for the membership always counts (e.g. after a site move).
    """
    in_range = db.session.scalars(
        select(Round)
        .where(Round.date >= membership.start, Round.date <= membership.end)
        .order_by(Round.date)
    ).all()
    given = set(
        db.session.scalars(
            select(Allocation.round_id).where(Allocation.membership_id == membership.id).distinct()
        )
    )
    # The site in force on each round's date decides (a change may move the household).
    terms = terms_over(membership, {r.date for r in in_range})
    chosen = {
        r.id: r
        for r in in_range
        if terms[r.date].site.rhythm.serves(r.schedule_date) or r.id in given
    }
    missing = given - chosen.keys()
    if missing:
        extra = db.session.scalars(select(Round).where(Round.id.in_(missing)))
        chosen.update({r.id: r for r in extra})
    return sorted(chosen.values(), key=lambda r: r.date)


def first_day(membership: Membership, rounds: Sequence[Round], holds: Collection[date]) -> date:
    """The day the membership's share really began: its start, or later when it joined after
    rounds were packed.

    A household entered in the middle of a season may have a start before rounds that
    locked without it (the coordinator left the start at the season's). Those rounds, each
    stored with shares for others and none for it (and no hold of its own), come before its
    first share: the page counts from the round after the last of them.
    """
    start = membership.start
    mine = set(
        db.session.scalars(
            select(Allocation.round_id).where(Allocation.membership_id == membership.id).distinct()
        )
    )
    # Only the locked rounds before its first share can be missed ones: for a household
    # there from the first round, none, and nothing more is read.
    candidates: list[Round] = []
    for r in rounds:
        if r.id in mine or r.date in holds or r.status in OPEN:
            break
        if r.status in LOCKED:
            candidates.append(r)
    if not candidates:
        return start
    with_shares = set(
        db.session.scalars(
            select(Allocation.round_id)
            .where(Allocation.round_id.in_([r.id for r in candidates]))
            .distinct()
        )
    )
    for r in candidates:
        if r.id in with_shares:
            later = next((x for x in rounds if x.date > r.date), None)
            start = later.date if later is not None else r.date + timedelta(days=1)
    return start


def holds_of(membership: Membership) -> dict[date, HoldMode]:
    return {
        h.round_date: h.mode
        for h in db.session.scalars(select(Hold).where(Hold.membership_id == membership.id))
    }


@dataclass
class Received:
    """One crop the membership received in a locked round."""

    crop: Crop
    quantity: int  # milli
    donated: bool


def received_in(membership: Membership, round_ids: Iterable[int]) -> dict[int, list[Received]]:
    """Stored allocations of the membership per round id, crops in name order, one query."""
    ids = list(round_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Allocation.round_id, Allocation.quantity_milli, Allocation.donated, Crop)
        .join(Crop, Crop.id == Allocation.crop_id)
        .where(Allocation.membership_id == membership.id, Allocation.round_id.in_(ids))
        .order_by(Crop.name)
    ).all()
    out: dict[int, list[Received]] = defaultdict(list)
    for round_id, quantity, donated, crop in rows:
        if quantity > 0:
            out[round_id].append(Received(crop, quantity, donated))
    return out


def hold_refusal(
    round_: Round | None, round_date: date, own_round_ids: Collection[int], today: date
) -> str | None:
    """Why a hold cannot be set on or cleared from this round now, or None if it can.

    The one place the rule lives: `set_hold` / `clear_hold` refuse with this message, and
    the "my share" page shows the hold controls only where it is None.
    """
    if round_ is None or round_.id not in own_round_ids:
        return _("There is no round of yours on %(date)s.", date=round_date.isoformat())
    if round_.status == RoundStatus.CANCELLED:
        return _("The round on %(date)s is cancelled.", date=round_date.isoformat())
    if round_date < today:
        return _("The round on %(date)s is past; it cannot change.", date=round_date.isoformat())
    # Past the cutoff the scheduler is about to lock it: a hold now would change the
    # split under the packers' feet, so it counts as locked.
    past_cutoff = round_.cutoff_at is not None and utcnow() >= round_.cutoff_at
    if round_.status not in OPEN or past_cutoff:
        return _(
            "The round on %(date)s is locked: its shares are packed already.",
            date=round_date.isoformat(),
        )
    return None


@dataclass
class PlanLine:
    """A round of the membership in a date range, and whether a hold can change on it now."""

    round: Round
    hold: HoldMode | None
    refusal: str | None  # why not (see hold_refusal), or None: it can be held or cleared


def hold_plan(membership: Membership, first: date, last: date, today: date) -> list[PlanLine]:
    """The membership's own rounds from `first` to `last`, each with the hold rule's answer.

    Read once for a range hold (csa/share/operations.py set_holds / clear_holds): one query
    of the rounds and one of the holds, whatever the length of the range.
    """
    rounds = membership_rounds(membership)
    own = {r.id for r in rounds}
    holds = holds_of(membership)
    return [
        PlanLine(r, holds.get(r.date), hold_refusal(r, r.date, own, today))
        for r in rounds
        if first <= r.date <= last
    ]


def active_crops() -> list[Crop]:
    return list(db.session.scalars(select(Crop).where(Crop.active).order_by(Crop.name)))


def opt_out_ids(membership: Membership) -> set[int]:
    return set(
        db.session.scalars(select(OptOut.crop_id).where(OptOut.membership_id == membership.id))
    )


def step_precision(step_milli: int) -> int:
    """Decimals a step needs: 50 (0.05) -> 2, 100 -> 1, 1000 -> 0, 1 -> 3."""
    decimals = 3
    while decimals and step_milli % 10 == 0:
        step_milli //= 10
        decimals -= 1
    return decimals


def round_to_precision(milli: Fraction, decimals: int) -> int:
    """Round exact thousandths to a number of decimals (half up), as thousandths."""
    quantum = 10 ** (3 - decimals)
    return int((milli / quantum + Fraction(1, 2)) // 1) * quantum


@dataclass
class SeasonRow:
    """One crop over the season: what the membership received against its fair share."""

    crop: Crop
    received: int = 0  # milli, donated parts included
    donated: int = 0  # milli
    fair: Fraction = field(default_factory=Fraction)  # exact milli
    rounds: int = 0

    @property
    def fair_shown(self) -> int:
        """The fair share in thousandths, rounded to the precision of the crop's step."""
        return round_to_precision(self.fair, step_precision(self.crop.step_milli))

    @property
    def difference(self) -> Fraction:
        return self.received - self.fair


def _locked_rows(membership: Membership) -> Sequence[Any]:
    """The membership's allocations in locked rounds, as columns (one query serves the
    past rounds' contents and the season so far)."""
    return db.session.execute(
        select(
            Allocation.round_id,
            Allocation.crop_id,
            Allocation.quantity_milli,
            Allocation.entitled_num,
            Allocation.entitled_den,
            Allocation.donated,
        )
        .join(Round, Round.id == Allocation.round_id)
        .where(Allocation.membership_id == membership.id, Round.status.in_(LOCKED))
    ).all()


def _season_rows(rows: Iterable[Any], crops: dict[int, Crop]) -> list[SeasonRow]:
    by_crop: dict[int, SeasonRow] = {}
    for _round_id, crop_id, quantity, num, den, donated in rows:
        crop = crops[crop_id]
        row = by_crop.setdefault(crop_id, SeasonRow(crop))
        row.received += quantity
        row.donated += quantity if donated else 0
        row.fair += Fraction(num, den) * crop.step_milli
        row.rounds += 1
    return sorted(by_crop.values(), key=lambda r: r.crop.name.lower())


def _received_rows(
    rows: Iterable[Any], round_ids: Collection[int], crops: dict[int, Crop]
) -> dict[int, list[Received]]:
    out: dict[int, list[Received]] = defaultdict(list)
    for round_id, crop_id, quantity, _num, _den, donated in rows:
        if quantity > 0 and round_id in round_ids:
            out[round_id].append(Received(crops[crop_id], quantity, donated))
    for items in out.values():
        items.sort(key=lambda r: r.crop.name)
    return out


def all_crops() -> dict[int, Crop]:
    """Every crop by id (a farm has a few dozen), loaded once for a page."""
    return {c.id: c for c in db.session.scalars(select(Crop).order_by(Crop.name))}


def season_to_date(membership: Membership) -> list[SeasonRow]:
    """Per crop, the sums over the membership's locked rounds: received vs fair entitlement.

    The entitlement is stored in steps; it is turned into thousandths with the crop's
    current step.
    """
    return _season_rows(_locked_rows(membership), all_crops())


@dataclass
class RoundLine:
    """A round as the member sees it: the date, its state, a hold, and what was in it."""

    round: Round
    hold: HoldMode | None = None
    received: list[Received] = field(default_factory=list)
    can_hold: bool = False  # a hold may be set or cleared now (see hold_refusal)


@dataclass
class ShareOverview:
    """Everything the "my share" page shows for one membership."""

    membership: Membership
    today: date
    current: RoundLine | None
    terms: InForce  # share type, count and site in force for this round (csa/changes/terms.py)
    current_shares: list[Share]
    upcoming: list[RoundLine]
    past: list[RoundLine]
    season: list[SeasonRow]
    crops: dict[int, Crop]
    active_crops: list[Crop] = field(default_factory=list)  # for the opt-out form
    opted_out: set[int] = field(default_factory=set)  # crop ids
    # The day the share began (first_day) when later than the season's first: the page
    # shows nothing before it and counts the season from it.
    since: date | None = None
    packed_before: Round | None = None  # a round of today on that locked before it began


# The sections of a member's share (csa/share/views.py): each page reads only its own part.
WEEK, SEASON, SETTINGS = "week", "season", "settings"
ALL_PARTS = frozenset({WEEK, SEASON, SETTINGS})


def share_overview(
    membership: Membership, today: date, parts: frozenset[str] = ALL_PARTS
) -> ShareOverview:
    """This round's contents and the coming rounds (WEEK), the past rounds and the season
    so far (SEASON), the opt-outs (SETTINGS): only the parts asked for are read.

    Only this membership's rows are read (`membership_split` for this round, one query of
    its locked allocations for the rest), never a whole round; crops are loaded once.
    """
    crops = all_crops()
    overview = ShareOverview(
        membership=membership,
        today=today,
        current=None,
        terms=InForce.own(membership),
        current_shares=[],
        upcoming=[],
        past=[],
        season=[],
        crops=crops,
    )
    if SETTINGS in parts:
        overview.active_crops = [c for c in crops.values() if c.active]
        overview.opted_out = opt_out_ids(membership)
    if not parts & {WEEK, SEASON}:
        overview.terms = in_force_one(membership, today)
        return overview
    rounds = membership_rounds(membership)
    own = {r.id for r in rounds}
    holds = holds_of(membership)
    began = first_day(membership, rounds, holds)
    if began > membership.season.start:
        overview.since = began
    before = [r for r in rounds if r.date < began]
    rounds = [r for r in rounds if r.date >= began]

    def line(r: Round, received: list[Received] | None = None) -> RoundLine:
        can_hold = r.date >= today and hold_refusal(r, r.date, own, today) is None
        return RoundLine(r, holds.get(r.date), received or [], can_hold)

    if WEEK in parts:
        overview.packed_before = next(
            (r for r in reversed(before) if r.date >= today and r.status in LOCKED), None
        )
        current = next(
            (r for r in rounds if r.date >= today and r.status != RoundStatus.CANCELLED), None
        )
        overview.terms = in_force_one(membership, current.date if current else today)
        if current is not None:
            overview.current = line(current)
            overview.current_shares = membership_split(current, membership, crops).received
        overview.upcoming = [
            line(r) for r in rounds if r.date >= today and (current is None or r.id != current.id)
        ]
    if WEEK not in parts:
        overview.terms = in_force_one(membership, today)
    if SEASON in parts:
        past_rounds = [r for r in rounds if r.date < today]
        locked_rows = _locked_rows(membership)
        locked_ids = {r.id for r in past_rounds if r.status in LOCKED}
        received = _received_rows(locked_rows, locked_ids, crops)
        overview.past = [line(r, received.get(r.id, [])) for r in reversed(past_rounds)]
        overview.season = _season_rows(locked_rows, crops)
    return overview
