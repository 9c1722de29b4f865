"""My share: contents, pickup details, holds, opt-outs, the season so far, and who may see it."""

from __future__ import annotations

from datetime import date, datetime
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from csa.core.quantity import milli_to_str
from csa.models import (
    Allocation,
    Hold,
    HoldMode,
    OptOut,
    Role,
    Round,
    RoundStatus,
)
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.lifecycle import lock_round
from csa.rounds.split import compute_split
from csa.share import queries as share_queries
from tests.factories import add_member, make_farm
from tests.test_rounds import NEXT_TUESDAY, TUESDAY, harvest, make_round

BEFORE_SEASON = date(2027, 4, 20)


@pytest.fixture
def today(monkeypatch):
    """Pin the farm's "today"; tests move it with today.set(...)."""

    class Today:
        value = BEFORE_SEASON

        def set(self, value: date) -> None:
            self.value = value

    pinned = Today()
    monkeypatch.setattr(rounds_svc, "farm_today", lambda: pinned.value)
    return pinned


@pytest.fixture
def setup(db, today):
    """Three full Tuesday members; the first can sign in; one harvested round."""
    farm = make_farm()
    ada = add_member(farm, name="Ada Lovelace")
    bob = add_member(farm, name="Bob Brown")
    cy = add_member(farm, name="Cy Young")
    round_ = make_round(db)
    harvest(db, round_, farm.tomatoes, 3_000)
    harvest(db, round_, farm.pumpkins, 4_000)
    db.session.commit()
    return farm, [ada, bob, cy], round_


@pytest.fixture
def member_login(setup, make_user, auth):
    farm, members, round_ = setup
    user = make_user(Role.MEMBER, member=members[0].member)
    auth.login(user.email)
    return user


def test_home_sends_a_member_to_my_share(app, client, member_login):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/share/")


def test_my_share_shows_contents_site_and_time(app, client, db, setup, member_login):
    farm, members, round_ = setup
    split = compute_split(round_)
    html = client.get("/share/").get_data(as_text=True)
    for crop, unit in ((farm.tomatoes, "kg"), (farm.pumpkins, "pc")):
        quantity = split.cell(members[0].id, crop.id).quantity
        assert f"{milli_to_str(quantity)} {unit}" in html
    assert "Old Mill" in html
    assert "Mill Lane 1" in html
    assert "Tuesday" in html
    assert "4:00\u202fPM–7:00\u202fPM" in html  # the user's locale, English: a 12-hour clock


def test_next_rounds_show_holds_and_cancellations(app, client, db, setup, member_login):
    farm, members, round_ = setup
    cancelled = make_round(db, NEXT_TUESDAY)
    cancelled.status = RoundStatus.CANCELLED
    cancelled.cancel_reason = "Hail storm"
    db.session.add(Hold(membership_id=members[0].id, round_date=date(2027, 5, 18)))
    make_round(db, date(2027, 5, 18))
    db.session.commit()
    html = client.get("/share/").get_data(as_text=True)
    assert "Hail storm" in html
    assert "on hold, donated" in html


def test_hold_donate_flags_the_share_donated(app, client, db, setup, member_login):
    farm, members, round_ = setup
    response = client.post("/share/hold/2027-05-04", data={"mode": "donate"})
    assert response.status_code == 302
    hold = db.session.scalar(select(Hold))
    assert (hold.membership_id, hold.mode) == (members[0].id, HoldMode.DONATE)
    split = compute_split(round_)
    mine = split.shares_of(members[0].id)
    assert mine
    assert all(s.donated for s in mine)
    for crop in (farm.tomatoes, farm.pumpkins):
        assert split.donated(crop.id) == split.cell(members[0].id, crop.id).quantity


def test_hold_donate_appears_in_the_rounds_donation_line(
    app, client, db, setup, member_login, make_user, auth
):
    farm, members, round_ = setup
    client.post("/share/hold/2027-05-04", data={"mode": "donate"})
    auth.logout()
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    html = client.get("/rounds/2027-05-04").get_data(as_text=True)
    split = compute_split(round_)
    donated = milli_to_str(split.donated(farm.tomatoes.id))
    assert f"donated {donated} kg" in html
    assert "on hold, donated" in html


def test_hold_others_gives_the_share_to_the_others(app, client, db, setup, member_login):
    farm, members, round_ = setup
    before = compute_split(round_)
    response = client.post("/share/hold/2027-05-04", data={"mode": "others"})
    assert response.status_code == 302
    after = compute_split(round_)
    assert after.cell(members[0].id, farm.tomatoes.id) is None
    for other in members[1:]:
        gained = after.cell(other.id, farm.tomatoes.id).quantity
        assert gained > before.cell(other.id, farm.tomatoes.id).quantity
    assert sum(after.cell(m.id, farm.tomatoes.id).quantity for m in members[1:]) == 3_000
    assert "given to the others" in client.get("/share/").get_data(as_text=True)


def test_cancel_a_hold(app, client, db, setup, member_login):
    client.post("/share/hold/2027-05-04", data={"mode": "others"})
    client.post("/share/hold/2027-05-04", data={"mode": "donate"})  # change of mind
    assert db.session.scalar(select(Hold)).mode == HoldMode.DONATE
    response = client.post("/share/hold/2027-05-04/cancel")
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


def test_hold_refused_on_a_locked_round(app, client, db, setup, member_login):
    farm, members, round_ = setup
    lock_round(round_)
    db.session.commit()
    response = client.post("/share/hold/2027-05-04", data={"mode": "donate"}, follow_redirects=True)
    assert "is locked" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


def test_hold_refused_after_the_cutoff(app, client, db, setup, member_login):
    farm, members, round_ = setup
    round_.cutoff_at = datetime(2020, 1, 1)  # passed, but the scheduler has not locked it yet
    db.session.commit()
    response = client.post("/share/hold/2027-05-04", data={"mode": "donate"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "is locked" in html
    assert "Put this round on hold" not in html
    assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


def test_hold_refused_on_a_past_round(app, client, db, setup, member_login, today):
    today.set(date(2027, 5, 5))
    response = client.post("/share/hold/2027-05-04", data={"mode": "donate"}, follow_redirects=True)
    assert "is past" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


def test_hold_refused_on_a_cancelled_round(app, client, db, setup, member_login):
    farm, members, round_ = setup
    round_.status = RoundStatus.CANCELLED
    db.session.commit()
    response = client.post("/share/hold/2027-05-04", data={"mode": "donate"}, follow_redirects=True)
    assert "is cancelled" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


def test_hold_refused_for_no_round_or_bad_mode(app, client, db, setup, member_login):
    response = client.post("/share/hold/2027-05-11", data={"mode": "donate"}, follow_redirects=True)
    assert "no round of yours" in response.get_data(as_text=True)
    client.post("/share/hold/2027-05-04", data={"mode": "steal"})
    assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


def test_opt_out_removes_the_crop(app, client, db, setup, member_login):
    farm, members, round_ = setup
    response = client.post("/share/opt-outs", data={"crops": [str(farm.pumpkins.id)]})
    assert response.status_code == 302
    assert response.headers["Location"] == "/share/settings"
    assert db.session.scalars(select(OptOut.crop_id)).all() == [farm.pumpkins.id]
    split = compute_split(round_)
    assert split.cell(members[0].id, farm.pumpkins.id) is None
    assert split.cell(members[0].id, farm.tomatoes.id).quantity > 0
    html = client.get("/share/").get_data(as_text=True)
    assert "Pumpkins</span>" not in html
    assert "Tomatoes</span>" in html

    client.post("/share/opt-outs", data={})
    assert db.session.scalar(select(func.count()).select_from(OptOut)) == 0

    client.post("/share/opt-outs", data={"crops": ["999"]})
    assert db.session.scalar(select(func.count()).select_from(OptOut)) == 0


def test_season_to_date_after_two_locked_rounds(app, client, db, setup, member_login, today):
    farm, members, round_ = setup
    harvest(db, round_, farm.tomatoes, 1_030)  # 4.03 kg: not a multiple of three members
    second = make_round(db, NEXT_TUESDAY)
    harvest(db, second, farm.tomatoes, 2_510)
    harvest(db, second, farm.pumpkins, 2_000)
    lock_round(round_)
    lock_round(second)
    db.session.commit()
    today.set(date(2027, 5, 12))

    rows = {r.crop.name: r for r in share_queries.season_to_date(members[0])}
    allocations = db.session.scalars(
        select(Allocation).where(Allocation.membership_id == members[0].id)
    ).all()
    for crop in (farm.tomatoes, farm.pumpkins):
        mine = [a for a in allocations if a.crop_id == crop.id]
        assert len(mine) == 2
        assert rows[crop.name].received == sum(a.quantity_milli for a in mine)
        assert rows[crop.name].fair == sum(
            Fraction(a.entitled_num, a.entitled_den) * crop.step_milli for a in mine
        )
    tomatoes = rows["Tomatoes"]
    # 80 + 50 whole steps of 0.05 kg were split in three (the rest is surplus): exact thirds
    assert tomatoes.fair == Fraction((80 + 50) * 50, 3)
    assert tomatoes.fair_shown == 2_170  # 2.17 kg: 2 decimals, like the 0.05 kg step

    html = client.get("/share/season").get_data(as_text=True)
    assert (
        f"You received {milli_to_str(tomatoes.received)} kg of Tomatoes, "
        "your fair share was 2.17 kg." in html
    )
    # past rounds list what was received, with a link to each round
    assert 'href="/share/round/2027-05-04"' in html
    assert 'href="/share/round/2027-05-11"' in html


def test_own_round_page_explains(app, client, db, setup, member_login, today):
    farm, members, round_ = setup
    page = client.get("/share/round/2027-05-04")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Fair share this round" in html
    assert "Balance carried in" in html
    own = client.get(f"/share/round/2027-05-04?membership={members[0].id}")
    assert own.status_code == 200
    assert client.get(f"/rounds/2027-05-04/explain/{members[0].id}").status_code == 200


def test_another_households_urls_are_404(app, client, db, setup, member_login):
    farm, members, round_ = setup
    bob = members[1]
    assert client.get(f"/share/round/2027-05-04?membership={bob.id}").status_code == 404
    assert client.get(f"/rounds/2027-05-04/explain/{bob.id}").status_code == 404
    assert client.get("/share/round/2027-05-04?membership=9999").status_code == 404
    assert client.get("/share/round/2027-05-11").status_code == 404
    assert client.get("/share/round/bad-date").status_code == 404
    # the rounds matrix itself is for the farm's people only
    assert client.get("/rounds/2027-05-04").status_code == 403


def test_farmer_is_refused_share_pages(app, client, db, setup, make_user, auth):
    farm, members, round_ = setup
    farmer = make_user(Role.FARMER)
    auth.login(farmer.email)
    assert client.get("/share/").status_code == 403
    assert client.get("/share/round/2027-05-04").status_code == 403
    assert client.get(f"/share/member/{members[0].member_id}").status_code == 403
    assert client.post("/share/hold/2027-05-04", data={"mode": "donate"}).status_code == 403


def test_coordinator_views_a_members_share(app, client, db, setup, make_user, auth):
    farm, members, round_ = setup
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    page = client.get(f"/share/member/{members[1].member_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Bob Brown" in html
    assert "Put on hold" not in html  # read-only for the coordinator
    assert client.get(f"/share/round/2027-05-04?membership={members[1].id}").status_code == 200
    assert client.get("/share/member/9999").status_code == 404


def test_member_without_membership_sees_a_friendly_message(app, client, db, make_user, auth):
    from csa.models import Member

    member = Member(name="New Comer", email="new@example.org")
    db.session.add(member)
    db.session.commit()
    user = make_user(Role.MEMBER, member=member)
    auth.login(user.email)
    page = client.get("/share/")
    assert page.status_code == 200
    assert "no membership" in page.get_data(as_text=True)


def test_current_membership_prefers_this_season(app, db):
    farm = make_farm()
    membership = add_member(farm)
    db.session.commit()
    member = membership.member
    assert share_queries.current_membership(member, date(2027, 6, 1)) == membership
    assert share_queries.current_membership(member, date(2026, 1, 1)) == membership  # upcoming
    assert share_queries.current_membership(member, date(2028, 1, 1)) == membership  # latest


@pytest.mark.parametrize(
    ("step", "decimals"), [(50, 2), (100, 1), (1000, 0), (1, 3), (250, 2), (5000, 0)]
)
def test_step_precision(step, decimals):
    assert share_queries.step_precision(step) == decimals


def test_round_to_precision_is_half_up():
    assert share_queries.round_to_precision(Fraction(12_415), 2) == 12_420
    assert share_queries.round_to_precision(Fraction(12_414), 2) == 12_410
    assert share_queries.round_to_precision(Fraction(2_500), 0) == 3_000
    assert share_queries.round_to_precision(Fraction(1, 3), 3) == 0


def test_rounds_of_a_membership_follow_its_site(app, db):
    farm = make_farm()
    tuesday = add_member(farm)
    thursday = add_member(farm, site=farm.thursday)
    for day in (TUESDAY, date(2027, 5, 6), NEXT_TUESDAY):
        db.session.add(Round(date=day))
    db.session.commit()
    assert [r.date for r in share_queries.membership_rounds(tuesday)] == [TUESDAY, NEXT_TUESDAY]
    assert [r.date for r in share_queries.membership_rounds(thursday)] == [date(2027, 5, 6)]


def test_my_share_links_the_private_calendar_feed(app, client, db, setup, member_login):
    farm, members, round_ = setup
    own = members[0].member
    html = client.get("/share/settings").get_data(as_text=True)
    assert f"/calendar/feed/{own.calendar_token}.ics" in html
    assert members[1].member.calendar_token not in html
    feed = client.get(f"/calendar/feed/{own.calendar_token}.ics")
    assert feed.status_code == 200
    assert "BEGIN:VCALENDAR" in feed.get_data(as_text=True)


def test_my_share_is_three_sections_one_tap_apart(
    app, client, db, setup, member_login, today, make_user, auth
):
    """This week, the season and settings: each page shows its own part only (the week's
    page reads no history), each links to the other two; staff see all parts on one page."""
    farm, members, round_ = setup
    assert rounds_svc.lock_round(round_)
    db.session.commit()
    today.set(date(2027, 5, 5))  # the round is past: it is history now
    parts = {
        "/share/": ('id="this-round"', 'id="next-rounds"'),
        "/share/season": ('id="season"', 'id="past-rounds"'),
        "/share/settings": ('id="opt-outs"', 'id="feed-title"'),
    }
    for url in parts:
        html = client.get(url).get_data(as_text=True)
        for other_url, others in parts.items():
            for marker in others:
                assert (marker in html) is (other_url == url), (url, marker)
        start = html.index('<nav class="sections"')
        nav = html[start : html.index("</nav>", start)]
        # and Money (csa/invoices) and Community (csa/community), one tap away too
        assert nav.count("<a ") == 5
        assert 'href="/invoices/mine"' in nav
        assert 'href="/community/mine"' in nav
        assert f'<a href="{url}" aria-current="page">' in nav
    season = client.get("/share/season").get_data(as_text=True)
    assert "You received" in season
    assert "You received" not in client.get("/share/").get_data(as_text=True)

    auth.logout()
    auth.login(make_user(Role.COORDINATOR).email)
    html = client.get(f"/share/member/{members[0].member.id}").get_data(as_text=True)
    for markers in parts.values():
        assert markers[0] in html
    assert '<nav class="sections"' not in html
