"""The rules of offered shares and swaps between members, as plain functions.

A member who cannot come offers its share of one round: to the members of its own site
(the first to accept collects it), to a named friend (the name is printed on the pickup
list), or to the food-sharing partner. A swap is one crop of a member's share for another
crop of someone else's at the same site; it changes who carries what home, never the split
(the fairness ledger keeps the allocations as computed).

Everything closes when the pickup starts at the member's site: after that the list in the
depot is what counts. An offer to the site nobody took follows the farm's rule: "donate"
(the share goes to the food-sharing partner) or "others" (it stays at the depot for the
members who come). Refusals are codes; the operations say them in the reader's language.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time

from csa.core.clock import local_to_utc

UNCLAIMED_RULES = ("donate", "others")


class Target(enum.StrEnum):
    SITE = "site"  # the members of the same site, first to accept
    FRIEND = "friend"  # someone outside the farm, named on the list
    PARTNER = "partner"  # the food-sharing partner


class OfferState(enum.StrEnum):
    OPEN = "open"  # offered to the site, nobody accepted yet
    ACCEPTED = "accepted"  # a member of the site, or the named friend, collects it
    WITHDRAWN = "withdrawn"  # the member took it back (it collects its share after all)
    DONATED = "donated"  # to the food-sharing partner: offered so, or unclaimed and "donate"
    OTHERS = "others"  # unclaimed, left at the depot for the others ("others")


class SwapState(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"  # the pickup started and nobody accepted


class Refusal(enum.StrEnum):
    CLOSED = "closed"  # the pickup started (or the round is cancelled or past)
    NOT_IN_ROUND = "not_in_round"  # no share in this round (on hold, not at a site served)
    ALREADY_OFFERED = "already_offered"  # one offer per membership and round
    TAKEN = "taken"  # no longer open (accepted, withdrawn, closed)
    OWN = "own"  # one's own post
    OTHER_SITE = "other_site"
    NOT_TO_SITE = "not_to_site"  # an offer to a friend or the partner is not for members
    HIDDEN = "hidden"  # a coordinator hid the post
    NO_FRIEND = "no_friend"  # an offer to a friend names nobody
    GIVES_MISSING = "gives_missing"  # the crop given is not in the poster's share
    WANTS_MISSING = "wants_missing"  # the crop wanted is not in the acceptor's share
    SAME_CROP = "same_crop"
    SHARE_OFFERED = "share_offered"  # the share is given away: no swap of its contents
    TOO_MANY = "too_many"  # posting too often
    NOT_WITHDRAWABLE = "not_withdrawable"


LIVE_OFFER_STATES = (OfferState.OPEN, OfferState.ACCEPTED, OfferState.DONATED)


def pickup_start(day: date, opens: time, tz: str) -> datetime:
    """When offers and swaps of a round close at a site: its pickup opens (naive UTC)."""
    return local_to_utc(datetime.combine(day, opens), tz)


@dataclass(frozen=True)
class Moment:
    """Where a round stands for one site, as the rules need it."""

    now: datetime  # naive UTC
    closes_at: datetime  # the pickup's start at the site, naive UTC
    round_usable: bool = True  # not cancelled, not distributed

    @property
    def closed(self) -> bool:
        return not self.round_usable or self.now >= self.closes_at


def offer_refusal(
    moment: Moment,
    *,
    in_round: bool,
    live_offer: bool,
    target: Target,
    friend_name: str = "",
    recent_posts: int = 0,
    posts_per_hour: int = 10,
) -> Refusal | None:
    """Why a member may not offer its share of a round now, or None."""
    if moment.closed:
        return Refusal.CLOSED
    if not in_round:
        return Refusal.NOT_IN_ROUND
    if live_offer:
        return Refusal.ALREADY_OFFERED
    if target == Target.FRIEND and not friend_name.strip():
        return Refusal.NO_FRIEND
    if recent_posts >= posts_per_hour:
        return Refusal.TOO_MANY
    return None


def initial_state(target: Target) -> OfferState:
    """An offer to the site waits for a taker; a friend or the partner has it at once."""
    if target == Target.SITE:
        return OfferState.OPEN
    if target == Target.FRIEND:
        return OfferState.ACCEPTED
    return OfferState.DONATED


def accept_refusal(
    moment: Moment,
    *,
    state: OfferState,
    target: Target,
    hidden: bool,
    offering_membership_id: int,
    offering_site_id: int,
    acceptor_membership_id: int,
    acceptor_site_id: int,
) -> Refusal | None:
    """Why a member may not take another's offered share now, or None.

    Whoever passes this may still lose the race: the write is a conditional UPDATE on the
    open state, and only one such UPDATE changes the row.
    """
    if acceptor_site_id != offering_site_id:
        return Refusal.OTHER_SITE
    if acceptor_membership_id == offering_membership_id:
        return Refusal.OWN
    if target != Target.SITE:
        return Refusal.NOT_TO_SITE
    if hidden:
        return Refusal.HIDDEN
    if state != OfferState.OPEN:
        return Refusal.TAKEN
    if moment.closed:
        return Refusal.CLOSED
    return None


def withdraw_refusal(moment: Moment, state: OfferState, target: Target) -> Refusal | None:
    """An offer may be taken back until the pickup, unless a member of the site accepted it
    (then someone counts on it: the two settle it between them)."""
    if moment.closed:
        return Refusal.CLOSED
    if state == OfferState.OPEN:
        return None
    if target != Target.SITE and state in (OfferState.ACCEPTED, OfferState.DONATED):
        return None
    return Refusal.NOT_WITHDRAWABLE


def unclaimed_state(rule: str) -> OfferState:
    """What an offer to the site nobody took becomes at the pickup (the farm's rule)."""
    if rule not in UNCLAIMED_RULES:
        raise ValueError(f"OFFERS_UNCLAIMED must be one of {UNCLAIMED_RULES}, not {rule!r}")
    return OfferState.DONATED if rule == "donate" else OfferState.OTHERS


def swap_post_refusal(
    moment: Moment,
    *,
    gives_crop_id: int,
    wants_crop_id: int,
    my_crops: frozenset[int],
    share_offered: bool,
    recent_posts: int = 0,
    posts_per_hour: int = 10,
) -> Refusal | None:
    """Why a member may not post "my <gives> for your <wants>" now, or None."""
    if moment.closed:
        return Refusal.CLOSED
    if share_offered:
        return Refusal.SHARE_OFFERED
    if gives_crop_id == wants_crop_id:
        return Refusal.SAME_CROP
    if gives_crop_id not in my_crops:
        return Refusal.GIVES_MISSING
    if recent_posts >= posts_per_hour:
        return Refusal.TOO_MANY
    return None


def swap_accept_refusal(
    moment: Moment,
    *,
    state: SwapState,
    hidden: bool,
    offering_membership_id: int,
    offering_site_id: int,
    offering_crops: frozenset[int],
    gives_crop_id: int,
    wants_crop_id: int,
    acceptor_membership_id: int,
    acceptor_site_id: int,
    acceptor_crops: frozenset[int],
    acceptor_share_offered: bool,
) -> Refusal | None:
    """Why a member may not accept a swap now, or None: it must receive the crop wanted
    (and the poster still the crop given: an open round's split may have moved)."""
    if acceptor_site_id != offering_site_id:
        return Refusal.OTHER_SITE
    if acceptor_membership_id == offering_membership_id:
        return Refusal.OWN
    if hidden:
        return Refusal.HIDDEN
    if state != SwapState.OPEN:
        return Refusal.TAKEN
    if moment.closed:
        return Refusal.CLOSED
    if acceptor_share_offered:
        return Refusal.SHARE_OFFERED
    if wants_crop_id not in acceptor_crops:
        return Refusal.WANTS_MISSING
    if gives_crop_id not in offering_crops:
        return Refusal.GIVES_MISSING
    return None
