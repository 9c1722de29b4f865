"""Reads for the renewal pages: the next season, a household's renewal, the overview."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from csa.extensions import db
from csa.models import (
    OCCUPYING,
    Member,
    Membership,
    Renewal,
    RenewalState,
    Season,
)
from csa.renewal.rules import trial_undecided

PENDING = (RenewalState.INVITED,)
ANSWERED = (RenewalState.ACCEPTED, RenewalState.CHANGED, RenewalState.DECLINED)


def next_season(season: Season) -> Season | None:
    """The season that starts after this one ends (the earliest such; active ones only)."""
    return db.session.scalar(
        select(Season)
        .where(Season.active.is_(True), Season.start > season.end)
        .order_by(Season.start, Season.id)
        .limit(1)
    )


def renewal_of(member: Member) -> Renewal | None:
    """The household's newest renewal (the one for the latest next season), or None."""
    return db.session.scalar(
        select(Renewal)
        .join(Membership, Renewal.membership_id == Membership.id)
        .join(Season, Renewal.next_season_id == Season.id)
        .where(Membership.member_id == member.id)
        .options(joinedload(Renewal.membership), joinedload(Renewal.next_season))
        .order_by(Season.start.desc(), Renewal.id.desc())
        .limit(1)
    )


def trial_of(member: Member) -> Membership | None:
    """The household's membership in an undecided trial, or None."""
    rows = db.session.scalars(
        select(Membership).where(
            Membership.member_id == member.id,
            Membership.trial_end.is_not(None),
            Membership.status.in_(OCCUPYING),
        )
    )
    return next((m for m in rows if trial_undecided(m.trial_end, m.end)), None)


def overview_query(state: RenewalState | None) -> Select[Any]:
    """Every renewal (of one state), by next season then household name."""
    query = (
        select(Renewal)
        .join(Membership, Renewal.membership_id == Membership.id)
        .join(Member, Membership.member_id == Member.id)
        .join(Season, Renewal.next_season_id == Season.id)
        .options(
            joinedload(Renewal.membership).joinedload(Membership.member),
            joinedload(Renewal.membership).joinedload(Membership.share_type),
            joinedload(Renewal.membership).joinedload(Membership.site),
            joinedload(Renewal.share_type),
            joinedload(Renewal.site),
            joinedload(Renewal.next_season),
        )
        .order_by(Season.start.desc(), Member.name, Renewal.id)
    )
    if state is not None:
        query = query.where(Renewal.state == state)
    return query


@dataclass(frozen=True)
class StateCount:
    state: RenewalState
    count: int


def state_counts() -> list[StateCount]:
    """How many renewals are in each state (every state listed, zeros too)."""
    counts = Counter(db.session.scalars(select(Renewal.state)))
    return [StateCount(state, counts.get(state, 0)) for state in RenewalState]
