"""The waiting list's offers: the scheduler offers each free place to the next household in
rank order, once; offers expire and move on; the household accepts or declines at a public
link; coordinators see and reorder the list and withdraw offers."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from csa.core.clock import utcnow
from csa.jobs import JobReport, offer_places
from csa.models import (
    Membership,
    MembershipStatus,
    OfferState,
    OutboxMessage,
    PlaceOffer,
    Role,
)
from csa.notices import mail
from csa.register import operations as register_ops
from csa.register import waiting
from csa.rounds.lifecycle import ensure_rounds, farm_today
from csa.waitlist import offers
from tests.factories import add_member, make_farm
from tests.proof import fingerprint


def run(now=None) -> JobReport:
    report = JobReport()
    offer_places(now or utcnow(), report)
    return report


def _farm(db, waiting_count: int = 3, active: int = 2):
    """Town Hall (Thursdays, 3 places) with `active` members and a waiting list."""
    today = farm_today()
    farm = make_farm(today - timedelta(weeks=2), today + timedelta(weeks=20))
    for _ in range(active):
        add_member(farm, site=farm.thursday)
    line = []
    for i in range(waiting_count):
        m = add_member(
            farm, name=f"Waiting {i}", site=farm.thursday, status=MembershipStatus.WAITING
        )
        waiting.join(m)
        line.append(m)
    ensure_rounds(today, 6)
    db.session.commit()
    return farm, line


def _offers(db, state=None):
    query = select(PlaceOffer).order_by(PlaceOffer.id)
    if state is not None:
        query = query.where(PlaceOffer.state == state)
    return list(db.session.scalars(query))


def _mails(db, to: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to == to).order_by(OutboxMessage.id)
        )
    )


def _link(db, membership: Membership) -> str:
    """The offer link the household got by e-mail (sealed in the outbox)."""
    row = next(m for m in _mails(db, membership.member.email) if m.key.startswith("offer-offered"))
    assert "/waitlist/offer/" not in row.body  # stored redacted, readable only sealed
    found = re.search(r"http\S*(/waitlist/offer/\S+)", mail.unseal(row.sealed))
    assert found
    return found.group(1)


# --- the job ------------------------------------------------------------------------------


def test_job_offers_free_places_in_rank_order_once(db):
    farm, line = _farm(db)  # 2 of 3 places taken: one free
    waiting.move(line[2], -2)  # the coordinator put the last household first
    db.session.commit()
    report = run()
    assert report.offered == 1
    (offer,) = _offers(db)
    assert offer.membership_id == line[2].id
    assert offer.state == OfferState.OPEN
    assert offer.expires_at - offer.offered_at == timedelta(days=5)
    assert len(offer.token_hash) == 64
    (sent,) = _mails(db, line[2].member.email)
    assert "Town Hall" in sent.subject
    assert _mails(db, line[0].member.email) == []
    # The link's token is nowhere in the database, only its hash.
    token = _link(db, line[2]).rsplit("/", 1)[1]
    assert offers.token_hash(token) == offer.token_hash
    before = fingerprint()
    again = run()
    assert again.offered == 0
    assert again.expired == 0
    assert fingerprint() == before


def test_no_offer_without_a_free_place(db):
    _farm(db, active=3)
    assert run().offered == 0
    assert _offers(db) == []


def test_two_jobs_at_once_offer_a_place_once(app, db):
    _farm(db)
    now = utcnow()
    theirs = JobReport()

    def other_process() -> None:
        with app.app_context():
            offer_places(now, theirs)

    site_season = offers.active_sites(), offers.seasons_to_fill(farm_today(now))
    town_hall = next(s for s in site_season[0] if s.name == "Town Hall")
    # This process offers the place and has not committed yet when the other one runs.
    assert offers.offer_next(town_hall, site_season[1][0], now, farm_today(now)) is not None
    other = threading.Thread(target=other_process)
    other.start()
    time.sleep(1.0)
    db.session.commit()
    other.join(30)
    assert not other.is_alive()
    db.session.expire_all()
    assert len(_offers(db)) == 1
    assert theirs.offered == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_expired_offer_goes_to_the_next_and_the_household_to_the_end(db):
    _f, line = _farm(db)
    run()
    first = _offers(db)[0]
    assert first.membership_id == line[0].id
    report = run(utcnow() + timedelta(days=5, minutes=1))
    assert report.expired == 1
    assert report.offered == 1
    db.session.expire_all()
    assert first.state == OfferState.EXPIRED
    assert first.slot is None
    assert line[0].status == MembershipStatus.WAITING
    assert waiting.position(line[0]) == 3  # to the end of the list
    told = [m for m in _mails(db, line[0].member.email) if m.key.startswith("offer-expired")]
    assert len(told) == 1
    assert "position 3" in told[0].body
    second = _offers(db, OfferState.OPEN)[0]
    assert second.membership_id == line[1].id


def test_second_expired_offer_takes_the_household_off_the_list(db):
    _f, line = _farm(db, waiting_count=1)
    now = utcnow()
    run(now)
    run(now + timedelta(days=6))  # expires, and the only household is offered again
    assert len(_offers(db)) == 2
    run(now + timedelta(days=12))
    db.session.expire_all()
    assert line[0].status == MembershipStatus.ENDED
    assert line[0].waiting_rank is None
    assert [o.state for o in _offers(db)] == [OfferState.EXPIRED, OfferState.EXPIRED]
    assert run(now + timedelta(days=13)).offered == 0


def test_a_membership_ending_frees_a_place_for_the_next_run(db):
    farm, line = _farm(db, active=3)
    assert run().offered == 0
    active = db.session.scalar(
        select(Membership).where(
            Membership.site_id == farm.thursday.id, Membership.status == MembershipStatus.ACTIVE
        )
    )
    register_ops.end_membership(active)
    db.session.commit()
    assert run().offered == 1
    assert _offers(db)[0].membership_id == line[0].id


def test_raised_capacity_is_offered_at_the_next_run(db):
    farm, line = _farm(db, active=3)
    farm.thursday.capacity = 5
    db.session.commit()
    assert run().offered == 2
    assert [o.membership_id for o in _offers(db)] == [line[0].id, line[1].id]
    assert sorted(o.slot for o in _offers(db)) == [1, 2]


def test_a_decline_goes_to_the_next_at_the_next_run(db):
    _f, line = _farm(db)
    run()
    offers.decline(_offers(db)[0], utcnow())
    db.session.commit()
    assert line[0].status == MembershipStatus.ENDED
    assert run().offered == 1
    assert _offers(db, OfferState.OPEN)[0].membership_id == line[1].id


def test_offer_places_command(runner, db):
    _farm(db)
    result = runner.invoke(args=["csa", "offer-places"])
    assert result.exit_code == 0, result.output
    assert "Places offered: 1" in result.output


# --- the household's link -----------------------------------------------------------------


def test_get_shows_the_offer_and_changes_nothing(client, db):
    _f, line = _farm(db)
    run()
    link = _link(db, line[0])
    before = fingerprint()
    page = client.get(link)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Town Hall" in text
    assert "Full" in text
    assert "Accept the place" in text
    assert "Decline" in text
    first = offers.first_round(_offers(db)[0].site, _offers(db)[0].season, farm_today())
    assert first is not None
    assert first.weekday() == 3
    assert fingerprint() == before


def test_accept_makes_the_membership_active_from_the_next_round(client, db):
    _f, line = _farm(db)
    run()
    link = _link(db, line[0])
    today = farm_today()
    response = client.post(link, data={"accept": "Accept the place"})
    assert response.status_code == 302
    db.session.expire_all()
    membership = db.session.get(Membership, line[0].id)
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.waiting_rank is None
    assert membership.start > today
    assert membership.start.weekday() == 3
    assert membership.start - today <= timedelta(days=7)
    assert _offers(db)[0].state == OfferState.ACCEPTED
    assert _offers(db)[0].slot is None
    confirm = [m for m in _mails(db, membership.member.email) if "accepted" in m.key]
    assert len(confirm) == 1
    assert "Welcome" in confirm[0].subject
    # The used link says so, and answering again writes nothing.
    assert "accepted this offer already" in client.get(link).get_data(as_text=True)
    before = fingerprint()
    again = client.post(link, data={"decline": "Decline"})
    assert again.status_code == 400
    assert "accepted this offer already" in again.get_data(as_text=True)
    assert fingerprint() == before
    # The place is taken: nobody else is offered one.
    assert run().offered == 0


def test_decline_at_the_link(client, db):
    _f, line = _farm(db)
    run()
    link = _link(db, line[0])
    assert client.post(link, data={"decline": "Decline"}).status_code == 302
    db.session.expire_all()
    assert _offers(db)[0].state == OfferState.DECLINED
    assert db.session.get(Membership, line[0].id).status == MembershipStatus.ENDED
    assert "declined this offer" in client.get(link).get_data(as_text=True)


def test_an_expired_link_says_so_and_writes_nothing(client, db):
    _f, line = _farm(db)
    run()
    link = _link(db, line[0])
    offer = _offers(db)[0]
    offer.expires_at = utcnow() - timedelta(minutes=1)  # the job has not run since
    db.session.commit()
    assert "This offer expired" in client.get(link).get_data(as_text=True)
    before = fingerprint()
    response = client.post(link, data={"accept": "Accept the place"})
    assert response.status_code == 400
    assert "This offer expired" in response.get_data(as_text=True)
    assert fingerprint() == before


def test_an_answer_needs_one_button_and_an_unknown_link_is_not_there(client, db):
    _f, line = _farm(db)
    run()
    link = _link(db, line[0])
    before = fingerprint()
    assert client.post(link, data={}).status_code == 400
    assert client.post(link, data={"accept": "1", "decline": "1"}).status_code == 400
    assert fingerprint() == before
    assert client.get("/waitlist/offer/not-a-token").status_code == 404
    assert client.post("/waitlist/offer/not-a-token", data={"accept": "1"}).status_code == 404


def test_a_member_sees_its_open_offer_on_its_share_page(client, auth, db, make_user):
    _f, line = _farm(db)
    run()
    make_user(Role.MEMBER, email="waiting0@example.org", member=line[0].member)
    auth.login("waiting0@example.org")
    page = client.get("/share/").get_data(as_text=True)
    assert _link(db, line[0]) in page


# --- the coordinators' page ---------------------------------------------------------------


def test_coordinator_sees_the_list_with_offers_and_reorders(client, auth, db, make_user):
    _f, line = _farm(db)
    run()
    make_user(Role.COORDINATOR, email="coord@example.org")
    auth.login("coord@example.org")
    page = client.get("/waitlist/").get_data(as_text=True)
    assert page.index("Waiting 0") < page.index("Waiting 1") < page.index("Waiting 2")
    assert "Withdraw the offer" in page
    assert "open" in page
    response = client.post(f"/waitlist/memberships/{line[2].id}/up")
    assert response.status_code == 302
    db.session.expire_all()
    assert waiting.position(line[2]) == 2
    client.post(f"/waitlist/memberships/{line[0].id}/down")
    db.session.expire_all()
    assert [m.id for m in waiting.waiting_list(line[0].site_id, line[0].season_id)] == [
        line[2].id,
        line[0].id,
        line[1].id,
    ]


def test_coordinator_withdraws_an_open_offer(client, auth, db, make_user):
    _f, line = _farm(db)
    run()
    make_user(Role.COORDINATOR, email="coord@example.org")
    auth.login("coord@example.org")
    offer = _offers(db)[0]
    assert client.post(f"/waitlist/offers/{offer.id}/withdraw").status_code == 302
    db.session.expire_all()
    assert offer.state == OfferState.WITHDRAWN
    assert offer.slot is None
    assert line[0].status == MembershipStatus.WAITING
    assert any("withdrawn" in m.key for m in _mails(db, line[0].member.email))
    before = fingerprint()
    client.post(f"/waitlist/offers/{offer.id}/withdraw")  # not open any more: refused
    assert fingerprint() == before


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FARMER])
def test_only_coordinators_see_the_list(client, auth, db, make_user, role):
    _farm(db)
    run()
    user = make_user(role)
    auth.login(user.email)
    assert client.get("/waitlist/").status_code == 403
    offer = _offers(db)[0]
    before = fingerprint()
    assert client.post(f"/waitlist/offers/{offer.id}/withdraw").status_code == 403
    assert client.post(f"/waitlist/memberships/{offer.membership_id}/up").status_code == 403
    assert fingerprint() == before


def test_anonymous_is_sent_to_sign_in(client, db):
    assert client.get("/waitlist/").status_code == 302


def test_the_demo_has_a_waiting_list_with_one_open_offer(runner, db):
    assert runner.invoke(args=["csa", "demo"]).exit_code == 0
    (offer,) = _offers(db)
    assert offer.state == OfferState.OPEN
    assert offer.site.name == "Farm Gate"
    line = waiting.waiting_list(offer.site_id, offer.season_id)
    assert len(line) == 4
    assert line[0].id == offer.membership_id
    assert run().offered == 0  # the one free place is offered already


def test_an_offer_whose_household_left_the_list_is_withdrawn_and_passed_on(db):
    _f, line = _farm(db)
    run()
    line[0].status = MembershipStatus.ENDED  # a coordinator ended it in the register
    line[0].waiting_rank = None
    db.session.commit()
    report = run()
    assert report.offered == 1
    assert report.expired == 0
    assert [o.state for o in _offers(db)] == [OfferState.WITHDRAWN, OfferState.OPEN]
    assert _offers(db)[1].membership_id == line[1].id
    assert not [m for m in _mails(db, line[0].member.email) if "withdrawn" in m.key]


def test_the_offer_mail_is_in_the_households_language(db):
    _f, line = _farm(db)
    line[0].member.locale = "pl"
    db.session.commit()
    run()
    (sent,) = _mails(db, line[0].member.email)
    assert sent.subject == "Miejsce dla Ciebie w punkcie Town Hall"
    assert "Przyjmij lub zrezygnuj tutaj do" in mail.unseal(sent.sealed)
