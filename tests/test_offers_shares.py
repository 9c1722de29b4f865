"""Offered shares and swaps through the web: a member offers its share, another member of
the same site accepts it, the pickup list names both; swaps show on both rows while the
allocations stay as split; other sites get 404; the close job is idempotent; a
coordinator hides a post; hostile text is escaped everywhere."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import select, update

from csa.core.clock import utcnow
from csa.core.offers import OfferState, SwapState, Target
from csa.errors import ValidationFailed
from csa.jobs import JobReport, close_offers
from csa.models import (
    Allocation,
    Crop,
    HarvestEntry,
    OptOut,
    OutboxMessage,
    PartnerOrganisation,
    Role,
    Round,
    ShareOffer,
    SheetRefresh,
    Swap,
)
from csa.offers import operations as ops
from csa.rounds.lifecycle import farm_today, lock_round
from csa.rounds.split import membership_split
from csa.sheets.build import render_round_sheets, render_site_preview, round_sheet_data
from tests.factories import add_member, make_farm
from tests.smtp import SmtpServer
from tests.test_sheets import text_of

HOSTILE = '<script>alert("x")</script> & Ola'


class Place:
    """A farm around today: four households at Old Mill (Tuesdays), one at Town Hall,
    the coming Tuesday's round with kohlrabi, beetroot and tomatoes harvested."""

    def __init__(self, db, make_user):
        today = farm_today()
        farm = make_farm(today - timedelta(weeks=10), today + timedelta(weeks=20))
        # The pickup at Old Mill opens at the end of the day, so a test run late on a
        # Tuesday still finds the round open.
        farm.tuesday.opens = time(23, 59)
        self.farm = farm
        self.kohlrabi = Crop(name="Kohlrabi", unit="piece", step_milli=1000)
        self.beetroot = Crop(name="Beetroot", unit="bunch", step_milli=1000)
        db.session.add_all([self.kohlrabi, self.beetroot])
        self.anna = add_member(farm, name="Anna Offering", email="anna@example.org")
        self.ben = add_member(farm, name="Ben Taker", email="ben@example.org")
        self.cleo = add_member(farm, name="Cleo Quick", email="cleo@example.org")
        self.dan = add_member(farm, name="Dan No-Beet", email="dan@example.org")
        self.tom = add_member(
            farm, name="Tom Town Hall", email="tom@example.org", site=farm.thursday
        )
        days = (1 - today.weekday()) % 7 or 7  # the next Tuesday, never today
        self.round = Round(date=today + timedelta(days=days))
        db.session.add(self.round)
        db.session.flush()
        db.session.add_all(
            [
                HarvestEntry(round=self.round, crop=self.kohlrabi, quantity_milli=8_000),
                HarvestEntry(round=self.round, crop=self.beetroot, quantity_milli=6_000),
                HarvestEntry(round=self.round, crop=farm.tomatoes, quantity_milli=4_000),
                OptOut(membership_id=self.dan.id, crop_id=self.beetroot.id),
                PartnerOrganisation(name="Food Bank", pickup_note="Thursdays"),
            ]
        )
        db.session.commit()
        self.users = {
            who: make_user(Role.MEMBER, email=f"{who}-login@example.org", member=m.member)
            for who, m in (
                ("anna", self.anna),
                ("ben", self.ben),
                ("cleo", self.cleo),
                ("dan", self.dan),
                ("tom", self.tom),
            )
        }
        self.coordinator = make_user(Role.COORDINATOR)

    def post_offer(self, client, data, **kw):
        """Offer a share of the round as the board's form does (its fields carry a prefix)."""
        named = {f"r{self.round.id}-{k}": v for k, v in data.items()}
        return client.post(f"/offers/rounds/{self.round.id}/offer", data=named, **kw)

    def post_swap(self, client, data, **kw):
        named = {f"r{self.round.id}-{k}": v for k, v in data.items()}
        return client.post(f"/offers/rounds/{self.round.id}/swap", data=named, **kw)

    def login(self, client, who: str) -> None:
        client.post("/auth/logout")
        email = self.coordinator.email if who == "coordinator" else self.users[who].email
        response = client.post(
            "/auth/login", data={"email": email, "password": "correct-horse-battery"}
        )
        assert response.status_code == 302


@pytest.fixture
def place(app, db, make_user) -> Place:
    return Place(db, make_user)


@pytest.fixture
def smtp_server(app):
    server = SmtpServer()
    server.start()
    server.configure(app)
    yield server
    server.stop()


def _offer(db, place) -> ShareOffer:
    return db.session.scalars(
        select(ShareOffer).where(ShareOffer.membership_id == place.anna.id)
    ).one()


def _notes(round_, membership_id: int) -> str:
    site = round_sheet_data(round_).site(
        next(s for s in round_sheet_data(round_).sites if s.rows).site_id
    )
    row = next(r for r in site.rows if r.membership_id == membership_id)
    return row.notes


def _flash(response) -> str:
    return response.get_data(as_text=True)


def test_offer_accept_and_both_rows_on_the_pickup_list(app, db, client, place, smtp_server):
    place.login(client, "anna")
    board = client.get("/offers/")
    assert board.status_code == 200
    assert "Offer my share" in board.get_data(as_text=True)
    done = place.post_offer(client, {"target": "site"}, follow_redirects=True)
    assert "Your share is offered to the members of your site." in done.get_data(as_text=True)
    offer = _offer(db, place)
    assert (offer.state, offer.target) == (OfferState.OPEN, Target.SITE)
    # Offered once: a second offer of the same round is refused with a message.
    again = place.post_offer(client, {"target": "partner"}, follow_redirects=True)
    assert "Your share of this round is offered already." in again.get_data(as_text=True)

    # Ben, of the same site, sees it without Anna's name and accepts it.
    place.login(client, "ben")
    page = client.get("/offers/").get_data(as_text=True)
    assert "A member of your site offers its share." in page
    assert "Anna Offering" not in page
    taken = client.post(f"/offers/shares/{offer.id}/accept", follow_redirects=True)
    assert "The share is yours to collect" in taken.get_data(as_text=True)
    db.session.expire_all()
    offer = _offer(db, place)
    assert offer.state == OfferState.ACCEPTED
    assert offer.accepted_by_id == place.ben.id

    # The pickup list: both rows say it (sheet data and the printed PDF).
    round_ = place.round
    assert "Collected by Ben Taker" in _notes(round_, place.anna.id)
    assert "Also collects the share of Anna Offering" in _notes(round_, place.ben.id)
    pdf = " ".join(text_of(render_site_preview(round_, place.farm.tuesday)))
    assert "Collected by Ben Taker" in pdf
    assert "Also collects the share of Anna Offering" in pdf

    # My share says it to both.
    assert "You also collect the share of Anna Offering." in client.get("/share/").get_data(
        as_text=True
    )
    place.login(client, "anna")
    assert "Ben Taker collects your share." in client.get("/share/").get_data(as_text=True)

    # Anna is told by mail, through the outbox (once, whatever runs again).
    sent = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.like(f"share-offer-accepted/{offer.id}%"))
    ).all()
    assert sent
    assert {m.to for m in sent} == {"anna@example.org", "anna-login@example.org"}
    assert all("Ben Taker collects your share" in m.subject for m in sent)
    from csa.notices.outbox import deliver

    deliver()
    got = smtp_server.handler.parsed()
    assert any("Ben Taker accepted the share you offered" in m.get_content() for m in got)


def test_a_member_of_another_site_cannot_see_or_accept(app, db, client, place):
    place.login(client, "cleo")
    place.post_swap(client, {"gives": place.kohlrabi.id, "wants": place.beetroot.id})
    swap = db.session.scalars(select(Swap)).one()
    place.login(client, "anna")
    place.post_offer(client, {"target": "site"})
    offer = _offer(db, place)

    place.login(client, "tom")
    page = client.get("/offers/").get_data(as_text=True)
    assert "A member of your site offers its share." not in page
    assert "Kohlrabi" not in page
    assert client.post(f"/offers/shares/{offer.id}/accept").status_code == 404
    assert client.post(f"/offers/swaps/{swap.id}/accept").status_code == 404
    # Nor may anyone withdraw another's post: 404 as if it did not exist.
    place.login(client, "ben")
    assert client.post(f"/offers/shares/{offer.id}/withdraw").status_code == 404
    assert client.post(f"/offers/swaps/{swap.id}/withdraw").status_code == 404
    # Members never reach the coordinators' list or hide buttons.
    assert client.get("/offers/all").status_code == 403
    assert client.post(f"/offers/shares/{offer.id}/hide").status_code == 403
    db.session.expire_all()
    assert _offer(db, place).state == OfferState.OPEN
    assert db.session.get(Swap, swap.id).state == SwapState.OPEN


def test_two_members_accepting_at_once_one_wins(app, db, client, place):
    place.login(client, "anna")
    place.post_offer(client, {"target": "site"})
    offer = _offer(db, place)
    place.login(client, "cleo")
    assert client.post(f"/offers/shares/{offer.id}/accept").status_code == 302
    place.login(client, "ben")
    late = client.post(f"/offers/shares/{offer.id}/accept", follow_redirects=True)
    assert "Sorry, someone else was quicker" in late.get_data(as_text=True)
    db.session.expire_all()
    assert _offer(db, place).accepted_by_id == place.cleo.id

    # The race itself: both read the offer open; the conditional UPDATE lets one through.
    db.session.execute(
        update(ShareOffer)
        .where(ShareOffer.id == offer.id)
        .values(state=OfferState.OPEN, accepted_by_id=None)
    )
    db.session.commit()
    offer = _offer(db, place)
    assert offer.state == OfferState.OPEN  # loaded: this session believes it open
    with app.app_context():  # another request, another session, is quicker
        from csa.extensions import db as other

        other.session.execute(
            update(ShareOffer)
            .where(ShareOffer.id == offer.id, ShareOffer.state == OfferState.OPEN)
            .values(state=OfferState.ACCEPTED, accepted_by_id=place.cleo.id)
        )
        other.session.commit()
    with pytest.raises(ValidationFailed, match="someone else was quicker"):
        ops.accept_offer(offer, place.ben, utcnow())
    db.session.rollback()
    assert _offer(db, place).accepted_by_id == place.cleo.id


def test_swap_on_both_rows_and_the_allocations_stay(app, db, client, place):
    assert lock_round(place.round)
    render_round_sheets(place.round)
    db.session.commit()

    def allocations():
        return sorted(
            db.session.execute(
                select(
                    Allocation.membership_id, Allocation.crop_id, Allocation.quantity_milli
                ).where(Allocation.round_id == place.round.id)
            ).all()
        )

    before = allocations()
    place.login(client, "anna")
    posted = place.post_swap(
        client,
        {"gives": place.kohlrabi.id, "wants": place.beetroot.id},
        follow_redirects=True,
    )
    assert "Your swap is on the board of your site." in posted.get_data(as_text=True)
    swap = db.session.scalars(select(Swap)).one()
    # The same crop both ways, or a crop not in one's share: a message, nothing written.
    same = place.post_swap(
        client,
        {"gives": place.kohlrabi.id, "wants": place.kohlrabi.id},
        follow_redirects=True,
    )
    assert "Choose two different crops." in same.get_data(as_text=True)
    assert len(db.session.scalars(select(Swap)).all()) == 1

    # Dan opted out of beetroot: he cannot give what Anna wants.
    place.login(client, "dan")
    refused = client.post(f"/offers/swaps/{swap.id}/accept", follow_redirects=True)
    assert "The crop wanted is not in your share in this round." in refused.get_data(as_text=True)
    place.login(client, "ben")
    page = client.get("/offers/").get_data(as_text=True)
    assert "A member gives Kohlrabi and would like Beetroot." in page
    agreed = client.post(f"/offers/swaps/{swap.id}/accept", follow_redirects=True)
    assert "you give Beetroot and get Kohlrabi" in agreed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Swap, swap.id).state == SwapState.ACCEPTED

    assert "Swap with Ben Taker: gives Kohlrabi, gets Beetroot" in _notes(
        place.round, place.anna.id
    )
    assert "Swap with Anna Offering: gives Beetroot, gets Kohlrabi" in _notes(
        place.round, place.ben.id
    )
    assert allocations() == before  # the split, and so the fairness ledger, unchanged
    # After the lock the sheets are printed again by the refresh job.
    assert db.session.get(SheetRefresh, place.round.id) is not None
    assert membership_split(place.round, place.anna).received  # Anna keeps her cells


def test_the_close_job_follows_the_rule_and_is_idempotent(app, db, client, place):
    place.login(client, "cleo")
    place.post_swap(client, {"gives": place.kohlrabi.id, "wants": place.beetroot.id})
    place.login(client, "anna")
    place.post_offer(client, {"target": "site"})
    place.login(client, "ben")
    place.post_offer(client, {"target": "friend", "friend_name": "Ola"})
    offer = _offer(db, place)
    closes = ops.closes_at(place.round, place.farm.tuesday)

    report = JobReport()
    close_offers(closes - timedelta(minutes=1), report)
    assert report.notes == []  # before the pickup: nothing closes
    close_offers(closes, report)
    assert report.notes == ["offers and swaps closed: 2"]
    db.session.expire_all()
    assert db.session.get(ShareOffer, offer.id).state == OfferState.DONATED
    assert db.session.scalars(select(Swap)).one().state == SwapState.CLOSED
    friend = db.session.scalars(
        select(ShareOffer).where(ShareOffer.membership_id == place.ben.id)
    ).one()
    assert friend.state == OfferState.ACCEPTED  # a friend's share is not unclaimed

    again = JobReport()
    close_offers(closes + timedelta(hours=1), again)
    assert again.notes == []
    from csa.community.donated import donated_shares

    assert [(d.membership_id, d.reason) for d in donated_shares(place.round)] == [
        (place.anna.id, "offered, not taken")
    ]
    assert "Donated to the food-sharing partner" in _notes(place.round, place.anna.id)
    # Too late to accept: a clear message.
    place.login(client, "cleo")
    late = client.post(f"/offers/shares/{offer.id}/accept", follow_redirects=True)
    assert "no longer open" in late.get_data(as_text=True)


def test_the_others_rule(app, db, client, place):
    app.config["OFFERS_UNCLAIMED"] = "others"
    place.login(client, "anna")
    place.post_offer(client, {"target": "site"})
    closes = ops.closes_at(place.round, place.farm.tuesday)
    close_offers(closes, JobReport())
    db.session.expire_all()
    assert _offer(db, place).state == OfferState.OTHERS
    assert "left for the others" in _notes(place.round, place.anna.id)


def test_offer_to_friend_and_partner_and_withdraw(app, db, client, place):
    place.login(client, "anna")
    done = place.post_offer(client, {"target": "friend", "friend_name": "  "})
    assert done.status_code == 302
    assert db.session.scalars(select(ShareOffer)).all() == []  # no name: nothing written
    place.post_offer(client, {"target": "friend", "friend_name": "Ola Nowak"})
    offer = _offer(db, place)
    assert offer.state == OfferState.ACCEPTED
    assert "Collected by Ola Nowak" in _notes(place.round, place.anna.id)
    withdrawn = client.post(f"/offers/shares/{offer.id}/withdraw", follow_redirects=True)
    assert "you collect your share" in withdrawn.get_data(as_text=True)
    assert _notes(place.round, place.anna.id) == ""
    place.post_offer(client, {"target": "partner"})
    from csa.community.donated import donated_shares

    assert [d.reason for d in donated_shares(place.round)] == [
        "offered to the food-sharing partner"
    ]
    # Unknown targets and overlong names are refused by the form.
    place.login(client, "ben")
    place.post_offer(client, {"target": "nobody"})
    place.post_offer(client, {"target": "friend", "friend_name": "x" * 101})
    assert (
        db.session.scalars(select(ShareOffer).where(ShareOffer.membership_id == place.ben.id)).all()
        == []
    )


def test_posting_is_rate_limited(app, db, client, place):
    app.config["OFFERS_POSTS_PER_HOUR"] = 2
    place.login(client, "anna")
    for _ in range(2):
        place.post_swap(client, {"gives": place.kohlrabi.id, "wants": place.beetroot.id})
    third = place.post_swap(
        client,
        {"gives": place.kohlrabi.id, "wants": place.farm.tomatoes.id},
        follow_redirects=True,
    )
    assert "You posted a lot in the last hour." in third.get_data(as_text=True)
    assert len(db.session.scalars(select(Swap)).all()) == 2


def test_a_coordinator_hides_a_post_and_hostile_text_is_escaped(app, db, client, place):
    place.login(client, "cleo")
    place.post_swap(client, {"gives": place.kohlrabi.id, "wants": place.beetroot.id})
    place.login(client, "anna")
    place.post_offer(client, {"target": "friend", "friend_name": HOSTILE})
    # Her share is given away: no swap of its contents.
    refused = place.post_swap(
        client,
        {"gives": place.kohlrabi.id, "wants": place.beetroot.id},
        follow_redirects=True,
    )
    assert "no swap of it" in refused.get_data(as_text=True)
    offer = _offer(db, place)
    swap = db.session.scalars(select(Swap)).one()
    assert offer.friend_name == HOSTILE

    mine = client.get("/offers/").get_data(as_text=True)
    assert "<script>alert" not in mine
    assert "&lt;script&gt;" in mine
    pdf = " ".join(text_of(render_site_preview(place.round, place.farm.tuesday)))
    # Printed as typed, not run (the PDF's text may break a line anywhere).
    assert "".join(f"Collected by {HOSTILE}".split()) in "".join(pdf.split())

    place.login(client, "coordinator")
    listing = client.get(f"/offers/all?round={place.round.id}").get_data(as_text=True)
    assert "<script>alert" not in listing
    assert "&lt;script&gt;" in listing
    assert client.post(f"/offers/shares/{offer.id}/hide").status_code == 302
    assert client.post(f"/offers/swaps/{swap.id}/hide").status_code == 302
    db.session.expire_all()
    assert db.session.get(ShareOffer, offer.id).hidden
    assert "Collected by a friend" in _notes(place.round, place.anna.id)

    # A hidden swap is off the board and cannot be accepted.
    place.login(client, "ben")
    assert "A member gives Kohlrabi" not in client.get("/offers/").get_data(as_text=True)
    refused = client.post(f"/offers/swaps/{swap.id}/accept", follow_redirects=True)
    assert "The coordinators hid this post." in refused.get_data(as_text=True)
    place.login(client, "coordinator")
    client.post(f"/offers/swaps/{swap.id}/show")
    db.session.expire_all()
    assert not db.session.get(Swap, swap.id).hidden


def test_the_demo_has_an_offered_share_an_open_swap_and_an_accepted_one(app, db):
    from csa.demo import load_demo

    load_demo()
    db.session.commit()
    offers = db.session.scalars(select(ShareOffer)).all()
    swaps = db.session.scalars(select(Swap)).all()
    assert any(o.target == Target.SITE and o.state == OfferState.OPEN for o in offers)
    assert {s.state for s in swaps} == {SwapState.OPEN, SwapState.ACCEPTED}
    # All at the demo member's site, whose board shows them.
    from csa.models import User

    member = db.session.scalars(select(User).where(User.email == "member@demo.farm")).one()
    site_ids = {o.site_id for o in offers} | {s.site_id for s in swaps}
    assert site_ids == {member.member.memberships[0].site_id}


def test_the_households_download_has_its_offers_and_anonymising_drops_friends(
    app, db, client, place
):
    from csa.privacy.export import gather
    from csa.privacy.operations import SCRUBBERS, Personal

    place.login(client, "anna")
    place.post_offer(client, {"target": "friend", "friend_name": "Ola Nowak"})
    place.login(client, "ben")
    place.post_swap(client, {"gives": place.kohlrabi.id, "wants": place.beetroot.id})
    rows = gather(place.anna.member)["offers_and_swaps"]
    assert [(r["kind"], r["friend_name"]) for r in rows] == [("offered share", "Ola Nowak")]
    assert [r["gives"] for r in gather(place.ben.member)["offers_and_swaps"]] == ["Kohlrabi"]
    for scrub in SCRUBBERS:
        if scrub.__name__ == "_scrub_offers":
            scrub(place.anna.member, Personal("Anna Offering", frozenset()))
    db.session.commit()
    assert _offer(db, place).friend_name == ""


def test_a_cancelled_rounds_offers_are_withdrawn_not_donated(app, db, client, place):
    from csa.rounds.lifecycle import cancel_round

    place.login(client, "anna")
    place.post_offer(client, {"target": "site"})
    cancel_round(place.round, "hail", None)
    db.session.commit()
    report = JobReport()
    close_offers(utcnow(), report)
    assert report.notes == ["offers and swaps closed: 1"]
    db.session.expire_all()
    assert _offer(db, place).state == OfferState.WITHDRAWN
    close_offers(utcnow(), report)
    assert report.notes == ["offers and swaps closed: 1"]  # the second run added nothing


def test_two_clicks_at_once_make_one_offer(app, db, client, place):
    """The rule reads the live offer first; two requests at once both pass that read, and
    the unique index on live offers lets only one row in."""
    from sqlalchemy.exc import IntegrityError

    place.login(client, "anna")
    place.post_offer(client, {"target": "site"})
    twin = ShareOffer(
        round_id=place.round.id,
        membership_id=place.anna.id,
        site_id=place.farm.tuesday.id,
        target=Target.PARTNER,
        state=OfferState.DONATED,
    )
    db.session.add(twin)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    # A withdrawn offer stands no more: a new one may follow it.
    client.post(f"/offers/shares/{_offer(db, place).id}/withdraw")
    place.post_offer(client, {"target": "partner"})
    states = sorted(o.state for o in db.session.scalars(select(ShareOffer).order_by(ShareOffer.id)))
    assert states == sorted([OfferState.WITHDRAWN, OfferState.DONATED])
