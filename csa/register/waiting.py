"""A site's waiting list for a season: waiting memberships in the order of their rank.

A household on the list is a Membership with status WAITING and a `waiting_rank`; lower
ranks come first and the id breaks a tie (two households joining in the same instant).
Capacity is per site, so the list is per site and season; the share type a household
asked for travels with its membership. These functions flush only; the caller commits.
"""

from __future__ import annotations

from sqlalchemy import func, select

from csa.changes.terms import peak_places_taken
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    Membership,
    MembershipStatus,
    PickupSite,
    Renewal,
    RenewalState,
    Season,
)


def waiting_list(site_id: int, season_id: int) -> list[Membership]:
    """The waiting memberships of one site and season, first in line first."""
    return list(
        db.session.scalars(
            select(Membership)
            .where(
                Membership.site_id == site_id,
                Membership.season_id == season_id,
                Membership.status == MembershipStatus.WAITING,
            )
            .order_by(Membership.waiting_rank.is_(None), Membership.waiting_rank, Membership.id)
        )
    )


def next_rank(site_id: int, season_id: int) -> int:
    """The rank a household joining the list now gets: after everyone waiting."""
    highest = db.session.scalar(
        select(func.max(Membership.waiting_rank)).where(
            Membership.site_id == site_id,
            Membership.season_id == season_id,
            Membership.status == MembershipStatus.WAITING,
        )
    )
    return (highest or 0) + 1


def join(membership: Membership) -> int:
    """Put a membership at the end of its site's list; return its position (1 = next)."""
    db.session.flush()
    membership.status = MembershipStatus.WAITING
    membership.waiting_rank = next_rank(membership.site_id, membership.season_id)
    db.session.flush()
    return position(membership)


def leave(membership: Membership, status: MembershipStatus) -> None:
    """Take a membership off the list into another status (active when it got a place)."""
    membership.status = status
    membership.waiting_rank = None
    db.session.flush()


def position(membership: Membership) -> int:
    """Where a waiting membership stands in its list (1 = the next to get a place)."""
    if membership.status != MembershipStatus.WAITING:
        raise ValidationFailed("not waiting")
    ids = [m.id for m in waiting_list(membership.site_id, membership.season_id)]
    return ids.index(membership.id) + 1


def move(membership: Membership, steps: int) -> None:
    """Move a waiting membership up (negative) or down the list by renumbering it whole."""
    line = waiting_list(membership.site_id, membership.season_id)
    index = line.index(membership)
    line.pop(index)
    line.insert(max(0, min(len(line), index + steps)), membership)
    for rank, m in enumerate(line, start=1):
        m.waiting_rank = rank
    db.session.flush()


def places_taken(site_id: int, season_id: int) -> int:
    """Places held at a site in a season: active and paused memberships, each at the site in
    force, on the season's busiest day (csa/changes/terms.py: a change of site frees the old
    place and takes the new one from its effective date), and pending renewal invitations
    choosing that site for that season (csa/renewal/ keeps them). An expired or declined
    renewal stops counting, so its place goes back to the waiting list by itself."""
    renewals = db.session.scalar(
        select(func.count(Renewal.id)).where(
            Renewal.site_id == site_id,
            Renewal.next_season_id == season_id,
            Renewal.state == RenewalState.INVITED,
        )
    )
    return peak_places_taken(site_id, season_id) + (renewals or 0)


def free_places(site: PickupSite, season: Season) -> int:
    """Places nobody holds at a site in a season (never below zero)."""
    return max(0, site.capacity - places_taken(site.id, season.id))


def waiting_count(site_id: int, season_id: int) -> int:
    """How many households wait at a site in a season (those with an open offer among them)."""
    return (
        db.session.scalar(
            select(func.count(Membership.id)).where(
                Membership.site_id == site_id,
                Membership.season_id == season_id,
                Membership.status == MembershipStatus.WAITING,
            )
        )
        or 0
    )


def places_for_newcomers(site: PickupSite, season: Season) -> int:
    """Free places a household not on the list may take: nobody jumps the waiting list.

    A place that frees goes to the households waiting (the offers job, csa/waitlist/),
    so a newcomer signing up finds a site full while anyone waits there."""
    return max(0, free_places(site, season) - waiting_count(site.id, season.id))
