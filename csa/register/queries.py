"""Reads of the register for its pages and exports: filters, counts per site and type.

The writes (members, memberships) are in csa/register/operations.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from csa.extensions import db
from csa.models import (
    OCCUPYING,
    HoldLog,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Renewal,
    RenewalState,
    Season,
    ShareType,
)
from csa.rounds.lifecycle import farm_today

log = logging.getLogger(__name__)

# Memberships that hold a place at their pickup site; waiting ones do not (yet).


@dataclass
class RegisterFilter:
    """What the coordinator narrowed the register to; None means no restriction."""

    q: str = ""
    season_id: int | None = None
    site_id: int | None = None
    share_type_id: int | None = None
    status: MembershipStatus | None = None


def default_season() -> Season | None:
    """The season the register opens on: the active one running today, else the latest
    active one, else the latest of all. (Once the next season exists, for renewals, the
    register still opens on the season being distributed.)"""
    today = farm_today()
    running = db.session.scalar(
        select(Season)
        .where(Season.active.is_(True), Season.start <= today, Season.end >= today)
        .order_by(Season.start.desc())
        .limit(1)
    )
    if running is not None:
        return running
    latest = db.session.scalar(
        select(Season).where(Season.active.is_(True)).order_by(Season.start.desc()).limit(1)
    )
    if latest is None:
        latest = db.session.scalar(select(Season).order_by(Season.start.desc()).limit(1))
    return latest


def _like(text: str) -> str:
    """Build a LIKE pattern that matches the text literally, %, _ and all."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def memberships_select(flt: RegisterFilter) -> Select[Membership]:
    """Select the memberships that match the filter, sorted by member name then season."""
    stmt = (
        select(Membership)
        .join(Membership.member)
        .join(Membership.season)
        .options(
            contains_eager(Membership.member),
            contains_eager(Membership.season),
            joinedload(Membership.share_type),
            joinedload(Membership.site),
        )
    )
    q = " ".join(flt.q.split())
    if q:
        # SQLite's lower() and ILIKE fold only ASCII, so "łukasz" would miss "Łukasz":
        # also try the usual spellings of the text (PostgreSQL folds them all anyway).
        patterns = sorted({_like(v) for v in (q, q.lower(), q.upper(), q.title(), q.capitalize())})
        stmt = stmt.where(
            or_(
                *(Member.name.ilike(p, escape="\\") for p in patterns),
                *(Member.email.ilike(p, escape="\\") for p in patterns),
            )
        )
    if flt.season_id is not None:
        stmt = stmt.where(Membership.season_id == flt.season_id)
    if flt.site_id is not None:
        stmt = stmt.where(Membership.site_id == flt.site_id)
    if flt.share_type_id is not None:
        stmt = stmt.where(Membership.share_type_id == flt.share_type_id)
    if flt.status is not None:
        stmt = stmt.where(Membership.status == flt.status)
    return stmt.order_by(Member.name, Member.id, Season.start.desc(), Membership.id)


@dataclass
class SiteCount:
    """Places taken at a site in one season, against its capacity."""

    site: PickupSite
    taken: int  # kept ones included
    waiting: int
    kept: int = 0  # places kept for renewal invitations not answered yet (csa/renewal/)

    @property
    def full(self) -> bool:
        """True when no newcomer can have a place: the places taken and the households
        waiting for one reach the capacity (csa/register/waiting.places_for_newcomers)."""
        return self.taken + self.waiting >= self.site.capacity


@dataclass
class ShareTypeCount:
    """How many memberships and shares of one size a season holds."""

    share_type: ShareType
    memberships: int
    shares: int


def site_counts(season: Season) -> list[SiteCount]:
    """Count the places taken (active and paused) and waiting at each site in a season."""
    rows = db.session.execute(
        select(Membership.site_id, Membership.status, func.count(Membership.id))
        .where(Membership.season_id == season.id)
        .group_by(Membership.site_id, Membership.status)
    ).all()
    taken: dict[int, int] = {}
    waiting: dict[int, int] = {}
    for site_id, status, count in rows:
        if status in OCCUPYING:
            taken[site_id] = taken.get(site_id, 0) + count
        elif status == MembershipStatus.WAITING:
            waiting[site_id] = waiting.get(site_id, 0) + count
    kept: dict[int, int] = {
        site_id: count
        for site_id, count in db.session.execute(
            select(Renewal.site_id, func.count(Renewal.id))
            .where(Renewal.next_season_id == season.id, Renewal.state == RenewalState.INVITED)
            .group_by(Renewal.site_id)
        )
    }
    for site_id, count in kept.items():
        taken[site_id] = taken.get(site_id, 0) + count
    sites = db.session.scalars(select(PickupSite).order_by(PickupSite.name)).all()
    return [
        SiteCount(site, taken.get(site.id, 0), waiting.get(site.id, 0), kept.get(site.id, 0))
        for site in sites
        if site.active or site.id in taken or site.id in waiting
    ]


def share_type_counts(season: Season) -> list[ShareTypeCount]:
    """Count the memberships and shares of each size that hold a place in a season."""
    rows = db.session.execute(
        select(Membership.share_type_id, func.count(Membership.id), func.sum(Membership.shares))
        .where(Membership.season_id == season.id, Membership.status.in_(OCCUPYING))
        .group_by(Membership.share_type_id)
    ).all()
    counts = {share_type_id: (n, int(total or 0)) for share_type_id, n, total in rows}
    types = db.session.scalars(select(ShareType).order_by(ShareType.weight_milli)).all()
    return [
        ShareTypeCount(st, *counts.get(st.id, (0, 0)))
        for st in types
        if st.active or st.id in counts
    ]


HOLD_LOG_SHOWN = 100  # the newest entries of a household's hold log on its page


def hold_log(member: Member) -> list[HoldLog]:
    """The household's hold changes over all its memberships, newest first."""
    return list(
        db.session.scalars(
            select(HoldLog)
            .join(Membership, Membership.id == HoldLog.membership_id)
            .options(joinedload(HoldLog.by))
            .where(Membership.member_id == member.id)
            .order_by(HoldLog.at.desc(), HoldLog.id.desc())
            .limit(HOLD_LOG_SHOWN)
        )
    )
