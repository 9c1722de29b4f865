"""Every write of offered shares and swaps: offer, withdraw, accept, post, hide, close.

The rules are csa/core/offers.py; this module loads what they need, writes and flushes.
The view or the job commits once. Accepting is one conditional UPDATE on the open state
(`csa.extensions.changed_rows`): of two members accepting at once exactly one changes the
row, the other is told the share is taken. A change after the round's lock asks for its
pickup lists to be printed again (`request_refresh`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from csa.changes.terms import InForce, in_force_one
from csa.core.offers import (
    LIVE_OFFER_STATES,
    Moment,
    OfferState,
    Refusal,
    SwapState,
    Target,
    accept_refusal,
    initial_state,
    offer_refusal,
    pickup_start,
    swap_accept_refusal,
    swap_post_refusal,
    unclaimed_state,
    withdraw_refusal,
)
from csa.errors import ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    Crop,
    HarvestEntry,
    Membership,
    PartnerOrganisation,
    PickupSite,
    Round,
    RoundStatus,
    ShareOffer,
    Swap,
)
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed
from csa.rounds.lifecycle import farm_today
from csa.rounds.split import membership_split
from csa.sheets.annotations import request_refresh

USABLE = (RoundStatus.OPEN, RoundStatus.LOCKED)


def refusal_text(refusal: Refusal) -> str:
    """A refusal in the reader's words."""
    texts = {
        Refusal.CLOSED: _("The pickup of this round has started: offers and swaps are closed."),
        Refusal.NOT_IN_ROUND: _("You have no share to collect in this round."),
        Refusal.ALREADY_OFFERED: _("Your share of this round is offered already."),
        Refusal.TAKEN: _("Sorry, someone else was quicker: this is no longer open."),
        Refusal.OWN: _("This is your own post."),
        Refusal.OTHER_SITE: _("This post is for another pickup site."),
        Refusal.NOT_TO_SITE: _("This share is not offered to the members of the site."),
        Refusal.HIDDEN: _("The coordinators hid this post."),
        Refusal.NO_FRIEND: _("Enter the name of the friend who collects your share."),
        Refusal.GIVES_MISSING: _("The crop to give is not in that share in this round."),
        Refusal.WANTS_MISSING: _("The crop wanted is not in your share in this round."),
        Refusal.SAME_CROP: _("Choose two different crops."),
        Refusal.SHARE_OFFERED: _("The share is offered to someone else: no swap of it."),
        Refusal.TOO_MANY: _("You posted a lot in the last hour. Please try again later."),
        Refusal.NOT_WITHDRAWABLE: _("This can no longer be withdrawn."),
    }
    return texts[refusal]


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise ValidationFailed(refusal_text(refusal))


# --- where a round stands --------------------------------------------------------------


def closes_at(round_: Round, site: PickupSite) -> datetime:
    return pickup_start(round_.date, site.opens, current_app.config["TIMEZONE"])


def moment(round_: Round, site: PickupSite, now: datetime) -> Moment:
    return Moment(now, closes_at(round_, site), round_.status in USABLE)


def terms_on(membership: Membership, round_: Round) -> InForce:
    return in_force_one(membership, round_.date)


def crops_received(round_: Round, membership: Membership) -> dict[int, Crop]:
    """The crops this membership takes home in the round (its cells above zero), by id;
    nothing when its share is on hold."""
    part = membership_split(round_, membership)
    if part.hold is not None:
        return {}
    return {s.crop_id: part.crops[s.crop_id] for s in part.received}


BOARD_ROUNDS = 3  # the coming rounds a member's board shows


def board_rounds(membership: Membership, now: datetime) -> list[tuple[Round, PickupSite]]:
    """The rounds the board is about: the membership's next few rounds whose pickup at its
    site has not started (each with the site in force that day)."""
    rounds = db.session.scalars(
        select(Round)
        .where(Round.date >= farm_today(now), Round.status.in_(USABLE))
        .order_by(Round.date)
        .limit(4 * BOARD_ROUNDS)
    )
    found: list[tuple[Round, PickupSite]] = []
    for round_ in rounds:
        if not membership.active_on(round_.date):
            continue
        site = terms_on(membership, round_).site
        if site.rhythm.serves(round_.schedule_date) and closes_at(round_, site) > now:
            found.append((round_, site))
            if len(found) == BOARD_ROUNDS:
                break
    return found


def round_crops(round_: Round) -> list[Crop]:
    """The crops harvested for the round, by name: what a swap may ask for."""
    return list(
        db.session.scalars(
            select(Crop)
            .where(
                Crop.id.in_(select(HarvestEntry.crop_id).where(HarvestEntry.round_id == round_.id))
            )
            .order_by(Crop.name)
        )
    )


def live_offer(round_: Round, membership: Membership) -> ShareOffer | None:
    """The membership's offer of this round that still stands (open, taken or donated)."""
    return db.session.scalar(
        select(ShareOffer).where(
            ShareOffer.round_id == round_.id,
            ShareOffer.membership_id == membership.id,
            ShareOffer.state.in_(LIVE_OFFER_STATES),
        )
    )


def _recent_posts(membership: Membership, now: datetime) -> int:
    since = now - timedelta(hours=1)
    offers = db.session.scalar(
        select(func.count(ShareOffer.id)).where(
            ShareOffer.membership_id == membership.id, ShareOffer.created_at > since
        )
    )
    swaps = db.session.scalar(
        select(func.count(Swap.id)).where(
            Swap.membership_id == membership.id, Swap.created_at > since
        )
    )
    return int(offers or 0) + int(swaps or 0)


def _per_hour() -> int:
    return int(current_app.config["OFFERS_POSTS_PER_HOUR"])


# --- offered shares --------------------------------------------------------------------


def offer_share(
    round_: Round, membership: Membership, target: Target, friend_name: str, now: datetime
) -> ShareOffer:
    """Offer the membership's share of a round to its site, a friend or the partner."""
    site = terms_on(membership, round_).site
    _refuse(
        offer_refusal(
            moment(round_, site, now),
            in_round=bool(crops_received(round_, membership)),
            live_offer=live_offer(round_, membership) is not None,
            target=target,
            friend_name=friend_name,
            recent_posts=_recent_posts(membership, now),
            posts_per_hour=_per_hour(),
        )
    )
    if target == Target.PARTNER and not db.session.scalar(
        select(PartnerOrganisation.id).where(PartnerOrganisation.active).limit(1)
    ):
        raise ValidationFailed(_("The farm has no food-sharing partner to give shares to."))
    offer = ShareOffer(
        round_id=round_.id,
        membership_id=membership.id,
        site_id=site.id,
        target=target,
        state=initial_state(target),
        friend_name=friend_name.strip() if target == Target.FRIEND else "",
        hidden=False,
        created_at=now,
        decided_at=None if target == Target.SITE else now,
    )
    db.session.add(offer)
    try:
        db.session.flush()
    except IntegrityError:
        # Another request of the household offered the share a moment ago (the unique
        # index on live offers); the view rolls back and says so.
        _refuse(Refusal.ALREADY_OFFERED)
    request_refresh(round_)
    return offer


def withdraw_offer(offer: ShareOffer, now: datetime) -> None:
    """Take one's offer back: the member collects its share after all."""
    _refuse(withdraw_refusal(moment(offer.round, offer.site, now), offer.state, offer.target))
    taken = changed_rows(
        update(ShareOffer)
        .where(ShareOffer.id == offer.id, ShareOffer.state == offer.state)
        .values(state=OfferState.WITHDRAWN, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if not taken:
        _refuse(Refusal.TAKEN)
    db.session.refresh(offer)
    request_refresh(offer.round)


def accept_offer(offer: ShareOffer, acceptor: Membership, now: datetime) -> None:
    """A member of the same site collects the offered share; the first to accept wins."""
    round_ = offer.round
    _refuse(
        accept_refusal(
            moment(round_, offer.site, now),
            state=offer.state,
            target=offer.target,
            hidden=offer.hidden,
            offering_membership_id=offer.membership_id,
            offering_site_id=offer.site_id,
            acceptor_membership_id=acceptor.id,
            acceptor_site_id=terms_on(acceptor, round_).site_id,
        )
    )
    if not acceptor.active_on(round_.date):
        _refuse(Refusal.NOT_IN_ROUND)
    won = changed_rows(
        update(ShareOffer)
        .where(
            ShareOffer.id == offer.id,
            ShareOffer.state == OfferState.OPEN,
            ShareOffer.hidden.is_(False),
        )
        .values(state=OfferState.ACCEPTED, accepted_by_id=acceptor.id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if not won:
        _refuse(Refusal.TAKEN)
    db.session.refresh(offer)
    request_refresh(round_)
    _tell(
        offer.membership,
        f"share-offer-accepted/{offer.id}",
        "share_offer_accepted",
        acceptor,
        offer=offer,
    )


def _due(model: Any, now: datetime) -> list[Any]:
    """Open posts of rounds that may have closed: up to today (the pickup may have
    started), or not usable any more (cancelled). Later rounds cannot have started."""
    return list(
        db.session.scalars(
            select(model)
            .join(Round, Round.id == model.round_id)
            .where(
                model.state == "open",
                or_(Round.date <= farm_today(now), Round.status.not_in(USABLE)),
            )
            .order_by(model.id)
        )
    )


def close_due(now: datetime) -> int:
    """Close every open offer and swap whose pickup has started, per the farm's rule for
    offers nobody took; the open posts of a cancelled round are withdrawn (there is
    nothing to collect). Idempotent: each UPDATE names the open state, so a second run
    (or a second process) changes nothing."""
    rule = unclaimed_state(str(current_app.config["OFFERS_UNCLAIMED"]))
    closed = 0
    touched: dict[int, Round] = {}
    for offer in _due(ShareOffer, now):
        if not moment(offer.round, offer.site, now).closed:
            continue
        cancelled = offer.round.status == RoundStatus.CANCELLED
        closed += changed_rows(
            update(ShareOffer)
            .where(ShareOffer.id == offer.id, ShareOffer.state == OfferState.OPEN)
            .values(state=OfferState.WITHDRAWN if cancelled else rule, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        touched[offer.round_id] = offer.round
    for swap in _due(Swap, now):
        if not moment(swap.round, swap.site, now).closed:
            continue
        closed += changed_rows(
            update(Swap)
            .where(Swap.id == swap.id, Swap.state == SwapState.OPEN)
            .values(state=SwapState.CLOSED, decided_at=now)
            .execution_options(synchronize_session=False)
        )
    for round_ in touched.values():
        request_refresh(round_)
    db.session.expire_all()
    return closed


# --- swaps -----------------------------------------------------------------------------


def post_swap(
    round_: Round, membership: Membership, gives: Crop, wants: Crop, now: datetime
) -> Swap:
    """Post "my <gives> for your <wants>" on the board of the membership's site."""
    site = terms_on(membership, round_).site
    _refuse(
        swap_post_refusal(
            moment(round_, site, now),
            gives_crop_id=gives.id,
            wants_crop_id=wants.id,
            my_crops=frozenset(crops_received(round_, membership)),
            share_offered=live_offer(round_, membership) is not None,
            recent_posts=_recent_posts(membership, now),
            posts_per_hour=_per_hour(),
        )
    )
    swap = Swap(
        round_id=round_.id,
        site_id=site.id,
        membership_id=membership.id,
        gives_crop_id=gives.id,
        wants_crop_id=wants.id,
        state=SwapState.OPEN,
        hidden=False,
        created_at=now,
    )
    db.session.add(swap)
    db.session.flush()
    return swap


def withdraw_swap(swap: Swap, now: datetime) -> None:
    """Take an open swap off the board (an accepted one is a promise to someone)."""
    if moment(swap.round, swap.site, now).closed:
        _refuse(Refusal.CLOSED)
    taken = changed_rows(
        update(Swap)
        .where(Swap.id == swap.id, Swap.state == SwapState.OPEN)
        .values(state=SwapState.WITHDRAWN, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if not taken:
        _refuse(Refusal.NOT_WITHDRAWABLE)
    db.session.refresh(swap)


def accept_swap(swap: Swap, acceptor: Membership, now: datetime) -> None:
    """Take the swap: the acceptor gives the crop wanted and gets the crop offered; the
    first to accept wins. The allocations stay as split."""
    round_ = swap.round
    _refuse(
        swap_accept_refusal(
            moment(round_, swap.site, now),
            state=swap.state,
            hidden=swap.hidden,
            offering_membership_id=swap.membership_id,
            offering_site_id=swap.site_id,
            offering_crops=frozenset(crops_received(round_, swap.membership)),
            gives_crop_id=swap.gives_crop_id,
            wants_crop_id=swap.wants_crop_id,
            acceptor_membership_id=acceptor.id,
            acceptor_site_id=terms_on(acceptor, round_).site_id,
            acceptor_crops=frozenset(crops_received(round_, acceptor)),
            acceptor_share_offered=live_offer(round_, acceptor) is not None,
        )
    )
    won = changed_rows(
        update(Swap)
        .where(Swap.id == swap.id, Swap.state == SwapState.OPEN, Swap.hidden.is_(False))
        .values(state=SwapState.ACCEPTED, accepted_by_id=acceptor.id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if not won:
        _refuse(Refusal.TAKEN)
    db.session.refresh(swap)
    request_refresh(round_)
    _tell(swap.membership, f"swap-accepted/{swap.id}", "swap_accepted", acceptor, swap=swap)


# --- the coordinators ------------------------------------------------------------------


def hide(post: ShareOffer | Swap, hidden: bool = True) -> None:
    """Hide a post from the board (or show it again); a hidden post cannot be accepted and
    a hidden friend's name is not printed."""
    post.hidden = hidden
    db.session.flush()
    request_refresh(post.round)


# --- the mail ---------------------------------------------------------------------------


def _subject(kind: str, name: str) -> str:
    """The subject of each mail, read in the recipient's language."""
    if kind == "share_offer_accepted":
        return _("%(name)s collects your share", name=name)
    return _("%(name)s accepted your swap", name=name)


def _tell(
    membership: Membership, key: str, kind: str, acceptor: Membership, **context: object
) -> None:
    """Queue one mail per reader of the household, once per key (the outbox's key)."""
    member = membership.member
    board = current_app.config["BASE_URL"].rstrip("/") + "/offers/"
    for to in household_recipients(member):
        with force_locale(to.locale):
            subject = _subject(kind, acceptor.member.name)
            body = render_template(
                f"mail/{kind}.txt", member=member, acceptor=acceptor, board_url=board, **context
            )
        mail.send(keyed(key, to), to.email, subject, body)
    db.session.flush()
