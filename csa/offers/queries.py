"""Reads of offered shares and swaps: the member's board, the coordinators' list, and what
the pickup list, *My share* and the food-sharing partner are told (plain text, in the
reader's language; every page and sheet escapes it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from csa.changes.terms import InForce
from csa.community.donated import DonatedShare
from csa.core.offers import LIVE_OFFER_STATES, OfferState, SwapState, Target
from csa.extensions import db
from csa.models import Crop, Membership, PickupSite, Round, ShareOffer, Swap
from csa.offers import operations as ops
from csa.share.notes import RoundNote
from csa.sheets.annotations import Annotations

_OFFER_LOAD = (
    joinedload(ShareOffer.membership).joinedload(Membership.member),
    joinedload(ShareOffer.accepted_by).joinedload(Membership.member),
    joinedload(ShareOffer.site),
)
_SWAP_LOAD = (
    joinedload(Swap.membership).joinedload(Membership.member),
    joinedload(Swap.accepted_by).joinedload(Membership.member),
    joinedload(Swap.gives_crop),
    joinedload(Swap.wants_crop),
    joinedload(Swap.site),
)


def collector(offer: ShareOffer) -> str:
    """Who collects an accepted offer: the member of the site, or the friend named (not
    named once a coordinator hid the post)."""
    if offer.target == Target.FRIEND:
        return _("a friend") if offer.hidden else offer.friend_name
    return offer.accepted_by.member.name if offer.accepted_by is not None else ""


# --- the member's board ----------------------------------------------------------------


@dataclass
class Board:
    round: Round
    site: PickupSite
    closes_at: datetime  # naive UTC
    closed: bool
    mine: ShareOffer | None  # my offer that still stands
    my_crops: dict[int, Crop]  # what I take home this round
    offers: list[ShareOffer]  # others' open offers to the site
    taken_by_me: list[ShareOffer]  # shares I collect besides mine
    swaps: list[Swap]  # open swaps of others I could accept, and every swap of mine
    accepted_swaps: list[Swap] = field(default_factory=list)  # swaps I am part of, done
    crops: list[Crop] = field(default_factory=list)  # harvested this round


def boards(membership: Membership, now: datetime) -> list[Board]:
    """The offers and swaps at the membership's site in each of its coming rounds."""
    return [
        board(membership, round_, site, now) for round_, site in ops.board_rounds(membership, now)
    ]


def board(membership: Membership, round_: Round, site: PickupSite, now: datetime) -> Board:
    """One round's offers and swaps at the membership's site."""
    offers = list(
        db.session.scalars(
            select(ShareOffer)
            .options(*_OFFER_LOAD)
            .where(ShareOffer.round_id == round_.id, ShareOffer.site_id == site.id)
            .order_by(ShareOffer.created_at, ShareOffer.id)
        ).unique()
    )
    swaps = list(
        db.session.scalars(
            select(Swap)
            .options(*_SWAP_LOAD)
            .where(Swap.round_id == round_.id, Swap.site_id == site.id)
            .order_by(Swap.created_at, Swap.id)
        ).unique()
    )
    mid = membership.id
    moment = ops.moment(round_, site, now)
    return Board(
        round=round_,
        site=site,
        closes_at=moment.closes_at,
        closed=moment.closed,
        mine=next(
            (o for o in offers if o.membership_id == mid and o.state in LIVE_OFFER_STATES), None
        ),
        my_crops=ops.crops_received(round_, membership),
        offers=[
            o
            for o in offers
            if o.membership_id != mid
            and o.target == Target.SITE
            and o.state == OfferState.OPEN
            and not o.hidden
        ],
        taken_by_me=[
            o for o in offers if o.accepted_by_id == mid and o.state == OfferState.ACCEPTED
        ],
        swaps=[
            s
            for s in swaps
            if s.state == SwapState.OPEN and (s.membership_id == mid or not s.hidden)
        ],
        accepted_swaps=[
            s
            for s in swaps
            if s.state == SwapState.ACCEPTED and mid in (s.membership_id, s.accepted_by_id)
        ],
        crops=ops.round_crops(round_),
    )


# --- the coordinators' list --------------------------------------------------------------


def staff_rounds(today: date) -> list[Round]:
    """The rounds to choose from: four weeks back, eight ahead."""
    return list(
        db.session.scalars(
            select(Round)
            .where(
                Round.date >= today - timedelta(weeks=4), Round.date <= today + timedelta(weeks=8)
            )
            .order_by(Round.date)
        )
    )


def rounds_with_posts(round_ids: Collection[int]) -> set[int]:
    """Which of these rounds have an offer or a swap (the list opens on the next of them)."""
    ids = list(round_ids)
    offers = db.session.scalars(select(ShareOffer.round_id).where(ShareOffer.round_id.in_(ids)))
    swaps = db.session.scalars(select(Swap.round_id).where(Swap.round_id.in_(ids)))
    return set(offers) | set(swaps)


def round_posts(round_: Round) -> tuple[list[ShareOffer], list[Swap]]:
    """Every offer and swap of a round, site by site, oldest first."""
    offers = list(
        db.session.scalars(
            select(ShareOffer)
            .options(*_OFFER_LOAD)
            .where(ShareOffer.round_id == round_.id)
            .order_by(ShareOffer.site_id, ShareOffer.created_at, ShareOffer.id)
        ).unique()
    )
    swaps = list(
        db.session.scalars(
            select(Swap)
            .options(*_SWAP_LOAD)
            .where(Swap.round_id == round_.id)
            .order_by(Swap.site_id, Swap.created_at, Swap.id)
        ).unique()
    )
    return offers, swaps


# --- what the pickup list prints ---------------------------------------------------------


def _offer_line(offer: ShareOffer) -> str:
    if offer.state == OfferState.ACCEPTED:
        return _("Collected by %(name)s", name=collector(offer))
    if offer.state == OfferState.DONATED:
        return _("Donated to the food-sharing partner")
    if offer.state == OfferState.OTHERS:
        return _("Not collected: left for the others at the site")
    return _("Offered to the site, not taken yet")


def annotate(
    round_: Round, site_ids: Collection[int], memberships: Mapping[int, InForce]
) -> Annotations:
    """The Notes cell of each row: who collects an offered share, who collects another's,
    and each accepted swap from both sides."""
    found = Annotations()
    sites = list(site_ids)
    if not sites:
        return found
    notes = found.row_notes
    offers = db.session.scalars(
        select(ShareOffer)
        .options(*_OFFER_LOAD)
        .where(
            ShareOffer.round_id == round_.id,
            ShareOffer.site_id.in_(sites),
            ShareOffer.state != OfferState.WITHDRAWN,
        )
        .order_by(ShareOffer.id)
    ).unique()
    for offer in offers:
        notes.setdefault(offer.membership_id, []).append(_offer_line(offer))
        if offer.state == OfferState.ACCEPTED and offer.accepted_by is not None:
            notes.setdefault(offer.accepted_by_id or 0, []).append(
                _("Also collects the share of %(name)s", name=offer.membership.member.name)
            )
    swaps = db.session.scalars(
        select(Swap)
        .options(*_SWAP_LOAD)
        .where(
            Swap.round_id == round_.id,
            Swap.site_id.in_(sites),
            Swap.state == SwapState.ACCEPTED,
        )
        .order_by(Swap.id)
    ).unique()
    for swap in swaps:
        if swap.accepted_by is None:  # pragma: no cover - accepted swaps name their taker
            continue
        gives, wants = swap.gives_crop.name, swap.wants_crop.name
        notes.setdefault(swap.membership_id, []).append(
            _(
                "Swap with %(name)s: gives %(gives)s, gets %(gets)s",
                name=swap.accepted_by.member.name,
                gives=gives,
                gets=wants,
            )
        )
        notes.setdefault(swap.accepted_by.id, []).append(
            _(
                "Swap with %(name)s: gives %(gives)s, gets %(gets)s",
                name=swap.membership.member.name,
                gives=wants,
                gets=gives,
            )
        )
    found.row_notes = {mid: lines for mid, lines in notes.items() if mid in memberships}
    return found


# --- My share's notes on a round -----------------------------------------------------------


def round_notes(membership: Membership, rounds: Sequence[Round]) -> dict[int, list[RoundNote]]:
    """What the member arranged for each round shown: its offer, shares it collects,
    swaps."""
    ids = [r.id for r in rounds]
    mid = membership.id
    board_url = url_for("offers.board")
    found: dict[int, list[RoundNote]] = {}
    offers = db.session.scalars(
        select(ShareOffer)
        .options(*_OFFER_LOAD)
        .where(
            ShareOffer.round_id.in_(ids),
            ShareOffer.state.in_(LIVE_OFFER_STATES + (OfferState.OTHERS,)),
            or_(ShareOffer.membership_id == mid, ShareOffer.accepted_by_id == mid),
        )
        .order_by(ShareOffer.id)
    ).unique()
    link = _("Offers and swaps")
    for offer in offers:
        lines = found.setdefault(offer.round_id, [])
        if offer.membership_id != mid:
            text = _("You also collect the share of %(name)s.", name=offer.membership.member.name)
        elif offer.state == OfferState.OPEN:
            text = _("You offered your share to your site; nobody has accepted it yet.")
        elif offer.state == OfferState.ACCEPTED:
            text = _("%(name)s collects your share.", name=collector(offer))
        elif offer.state == OfferState.DONATED:
            text = _("Your share goes to the food-sharing partner.")
        else:
            text = _("Nobody took your share: it was left for the others at the site.")
        lines.append(RoundNote(text, url=board_url, link=link))
    swaps = db.session.scalars(
        select(Swap)
        .options(*_SWAP_LOAD)
        .where(
            Swap.round_id.in_(ids),
            Swap.state.in_((SwapState.OPEN, SwapState.ACCEPTED)),
            or_(Swap.membership_id == mid, Swap.accepted_by_id == mid),
        )
        .order_by(Swap.id)
    ).unique()
    for swap in swaps:
        gives, wants = swap.gives_crop.name, swap.wants_crop.name
        if swap.state == SwapState.OPEN:
            text = _(
                "Your swap is on the board: your %(gives)s for %(wants)s.", gives=gives, wants=wants
            )
        elif swap.membership_id == mid and swap.accepted_by is not None:
            text = _(
                "Swap with %(name)s: you give %(gives)s and get %(gets)s.",
                name=swap.accepted_by.member.name,
                gives=gives,
                gets=wants,
            )
        else:
            text = _(
                "Swap with %(name)s: you give %(gives)s and get %(gets)s.",
                name=swap.membership.member.name,
                gives=wants,
                gets=gives,
            )
        found.setdefault(swap.round_id, []).append(RoundNote(text, url=board_url, link=link))
    return found


# --- the food-sharing partner ------------------------------------------------------------


def donated(round_: Round) -> list[DonatedShare]:
    """The shares of a round that go to the partner: offered to it, or offered to the site,
    not taken, and donated by the farm's rule."""
    rows = db.session.execute(
        select(ShareOffer.membership_id, ShareOffer.target)
        .where(ShareOffer.round_id == round_.id, ShareOffer.state == OfferState.DONATED)
        .order_by(ShareOffer.id)
    ).all()
    return [
        DonatedShare(
            mid,
            _("offered to the food-sharing partner")
            if target == Target.PARTNER
            else _("offered, not taken"),
        )
        for mid, target in rows
    ]
