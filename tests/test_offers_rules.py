"""The rules of offered shares and swaps (csa/core/offers.py), without an app."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

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

CLOSES = datetime(2027, 5, 4, 14, 0)  # 16:00 in Warsaw in summer
BEFORE = Moment(now=CLOSES - timedelta(minutes=1), closes_at=CLOSES)
AT = Moment(now=CLOSES, closes_at=CLOSES)


def test_offers_close_when_the_pickup_opens_at_the_site_in_the_farms_zone():
    assert pickup_start(date(2027, 5, 4), time(16), "Europe/Warsaw") == CLOSES
    # Winter time: one hour later in UTC for the same local time.
    assert pickup_start(date(2027, 12, 7), time(16), "Europe/Warsaw") == datetime(
        2027, 12, 7, 15, 0
    )
    assert not BEFORE.closed
    assert AT.closed
    assert Moment(now=CLOSES - timedelta(days=1), closes_at=CLOSES, round_usable=False).closed


@pytest.mark.parametrize(
    ("moment", "in_round", "live", "target", "friend", "recent", "expected"),
    [
        (BEFORE, True, False, Target.SITE, "", 0, None),
        (AT, True, False, Target.SITE, "", 0, Refusal.CLOSED),
        (BEFORE, False, False, Target.SITE, "", 0, Refusal.NOT_IN_ROUND),
        (BEFORE, True, True, Target.SITE, "", 0, Refusal.ALREADY_OFFERED),
        (BEFORE, True, False, Target.FRIEND, "  ", 0, Refusal.NO_FRIEND),
        (BEFORE, True, False, Target.FRIEND, "Ola", 0, None),
        (BEFORE, True, False, Target.PARTNER, "", 0, None),
        (BEFORE, True, False, Target.SITE, "", 10, Refusal.TOO_MANY),
    ],
)
def test_when_a_share_may_be_offered(moment, in_round, live, target, friend, recent, expected):
    found = offer_refusal(
        moment,
        in_round=in_round,
        live_offer=live,
        target=target,
        friend_name=friend,
        recent_posts=recent,
        posts_per_hour=10,
    )
    assert found == expected


def test_an_offer_to_the_site_waits_a_friend_or_the_partner_has_it_at_once():
    assert initial_state(Target.SITE) == OfferState.OPEN
    assert initial_state(Target.FRIEND) == OfferState.ACCEPTED
    assert initial_state(Target.PARTNER) == OfferState.DONATED


def _accept(moment=BEFORE, **kw):
    args = {
        "state": OfferState.OPEN,
        "target": Target.SITE,
        "hidden": False,
        "offering_membership_id": 1,
        "offering_site_id": 10,
        "acceptor_membership_id": 2,
        "acceptor_site_id": 10,
    } | kw
    return accept_refusal(moment, **args)


def test_who_may_accept_an_offered_share():
    assert _accept() is None
    assert _accept(acceptor_site_id=11) == Refusal.OTHER_SITE
    assert _accept(acceptor_membership_id=1) == Refusal.OWN
    assert _accept(target=Target.FRIEND, state=OfferState.ACCEPTED) == Refusal.NOT_TO_SITE
    assert _accept(hidden=True) == Refusal.HIDDEN
    assert _accept(state=OfferState.ACCEPTED) == Refusal.TAKEN
    assert _accept(state=OfferState.WITHDRAWN) == Refusal.TAKEN
    assert _accept(AT) == Refusal.CLOSED


def test_withdrawing_until_the_pickup_unless_a_member_counts_on_it():
    assert withdraw_refusal(BEFORE, OfferState.OPEN, Target.SITE) is None
    assert withdraw_refusal(BEFORE, OfferState.ACCEPTED, Target.FRIEND) is None
    assert withdraw_refusal(BEFORE, OfferState.DONATED, Target.PARTNER) is None
    assert withdraw_refusal(BEFORE, OfferState.ACCEPTED, Target.SITE) == Refusal.NOT_WITHDRAWABLE
    assert withdraw_refusal(BEFORE, OfferState.WITHDRAWN, Target.SITE) == Refusal.NOT_WITHDRAWABLE
    assert withdraw_refusal(AT, OfferState.OPEN, Target.SITE) == Refusal.CLOSED


def test_unclaimed_offers_follow_the_farms_rule():
    assert unclaimed_state("donate") == OfferState.DONATED
    assert unclaimed_state("others") == OfferState.OTHERS
    with pytest.raises(ValueError, match="OFFERS_UNCLAIMED"):
        unclaimed_state("burn")


def test_posting_a_swap_needs_the_crop_given_in_ones_own_share():
    mine = frozenset({1, 2})
    post = {"my_crops": mine, "share_offered": False}
    assert swap_post_refusal(BEFORE, gives_crop_id=1, wants_crop_id=3, **post) is None
    assert swap_post_refusal(BEFORE, gives_crop_id=3, wants_crop_id=1, **post) == (
        Refusal.GIVES_MISSING
    )
    assert swap_post_refusal(BEFORE, gives_crop_id=1, wants_crop_id=1, **post) == (
        Refusal.SAME_CROP
    )
    assert swap_post_refusal(AT, gives_crop_id=1, wants_crop_id=3, **post) == Refusal.CLOSED
    offered = {"my_crops": mine, "share_offered": True}
    assert swap_post_refusal(BEFORE, gives_crop_id=1, wants_crop_id=3, **offered) == (
        Refusal.SHARE_OFFERED
    )
    assert (
        swap_post_refusal(
            BEFORE, gives_crop_id=1, wants_crop_id=3, recent_posts=3, posts_per_hour=3, **post
        )
        == Refusal.TOO_MANY
    )


def _swap(moment=BEFORE, **kw):
    args = {
        "state": SwapState.OPEN,
        "hidden": False,
        "offering_membership_id": 1,
        "offering_site_id": 10,
        "offering_crops": frozenset({5}),
        "gives_crop_id": 5,
        "wants_crop_id": 6,
        "acceptor_membership_id": 2,
        "acceptor_site_id": 10,
        "acceptor_crops": frozenset({6}),
        "acceptor_share_offered": False,
    } | kw
    return swap_accept_refusal(moment, **args)


def test_accepting_a_swap_needs_the_crop_wanted_in_ones_own_share():
    assert _swap() is None
    assert _swap(acceptor_crops=frozenset({5})) == Refusal.WANTS_MISSING
    assert _swap(offering_crops=frozenset()) == Refusal.GIVES_MISSING
    assert _swap(acceptor_site_id=11) == Refusal.OTHER_SITE
    assert _swap(acceptor_membership_id=1) == Refusal.OWN
    assert _swap(hidden=True) == Refusal.HIDDEN
    assert _swap(state=SwapState.ACCEPTED) == Refusal.TAKEN
    assert _swap(AT) == Refusal.CLOSED
    assert _swap(acceptor_share_offered=True) == Refusal.SHARE_OFFERED


def test_the_models_live_states_are_the_rules():
    from csa.models import _LIVE_OFFER

    assert "state IN ({})".format(", ".join(f"'{s}'" for s in LIVE_OFFER_STATES)) == _LIVE_OFFER
