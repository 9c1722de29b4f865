"""The pickup calendar: the page, the coordinator's changes, sent messages and the feed."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from csa.calendar.ical import CRLF, MAX_OCTETS
from csa.calendar.links import feed_url
from csa.calendar.views import farm_today, rhythm_label
from csa.models import (
    HarvestEntry,
    Hold,
    HoldMode,
    OutboxMessage,
    OutboxState,
    Role,
    Round,
    RoundAction,
    RoundLog,
    RoundStatus,
)
from csa.rounds import lifecycle as cal
from csa.rounds import split
from tests.factories import add_member, make_farm

TUE = date(2027, 5, 4)  # Old Mill (weekday 1)
THU = date(2027, 5, 6)  # Town Hall (weekday 3)
WEEK = "/calendar/?from=2027-05-03"


@pytest.fixture
def farm(db):
    farm = make_farm()
    db.session.commit()
    return farm


@pytest.fixture
def rounds(app, db, farm):
    """The rounds of two weeks: Tue 4, Thu 6, Tue 11, Thu 13 May 2027."""
    created = cal.ensure_rounds(date(2027, 5, 3), 2)
    db.session.commit()
    return {r.date: r for r in created}


@pytest.fixture
def staff(client, auth, make_user):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def row_html(html: str, round_id: int) -> str:
    """The table row of one round on the calendar page."""
    match = re.search(rf'<tr id="round-{round_id}">(.*?)</tr>', html, re.S)
    assert match, f"round {round_id} is not on the page"
    return match.group(1)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- the page --------------------------------------------------------------------------


def test_page_lists_rounds_with_status_counts_and_local_cutoff(
    app, db, client, farm, rounds, staff
):
    m1 = add_member(farm, shares=2)
    m2 = add_member(farm)
    add_member(farm, site=farm.thursday)
    db.session.add(Hold(membership_id=m2.id, round_date=TUE, mode=HoldMode.DONATE))
    db.session.add(
        HarvestEntry(round_id=rounds[TUE].id, crop_id=farm.tomatoes.id, quantity_milli=5000)
    )
    rounds[date(2027, 5, 11)].status = RoundStatus.CANCELLED
    rounds[date(2027, 5, 11)].cancel_reason = "Hail storm"
    rounds[THU].status = RoundStatus.LOCKED
    db.session.commit()
    assert m1.shares == 2

    html = text_of(client.get(WEEK))
    tue = row_html(html, rounds[TUE].id)
    assert "Old Mill" in tue
    assert "Town Hall" not in tue
    assert "Tuesday" in tue
    assert "badge-open" in tue
    # shares, holds (each cell also carries its column's name for the phone layout)
    assert re.search(r'class="num"[^>]*>3</td>\s*<td class="num"[^>]*>1</td>', tue)
    assert "1 entry" in tue
    # Cutoff: the day before at 18:00 in Europe/Warsaw (16:00 UTC in May).
    assert "5/3/27" in tue
    assert "6:00" in tue
    assert "4:00" not in tue
    thu = row_html(html, rounds[THU].id)
    assert "Town Hall" in thu
    assert "badge-locked" in thu
    assert "not recorded" in thu
    assert "/rounds/2027-05-06/reopen?next=" in thu  # reopen, not cancel or move
    assert "/cancel" not in thu
    cancelled = row_html(html, rounds[date(2027, 5, 11)].id)
    assert "badge-cancelled" in cancelled
    assert "Hail storm" in cancelled
    assert "Europe/Warsaw" in html


def test_page_pages_by_weeks_and_defaults_to_this_week(app, client, rounds, staff):
    html = text_of(client.get("/calendar/"))
    assert "round-" not in html  # today is long before the 2027 season
    assert "The next round is on May 4, 2027" in html
    assert "from=2027-05-04" in html
    html = text_of(client.get("/calendar/?from=2027-05-05"))  # snaps to Monday 3 May
    assert f'id="round-{rounds[TUE].id}"' in html
    assert "from=2027-06-28" in html  # later: 8 weeks on
    assert "from=2027-03-08" in html  # earlier: 8 weeks back
    assert client.get("/calendar/?from=not-a-date").status_code == 200


def test_sites_show_their_rhythm(app, db, client, farm, staff):
    farm.thursday.every_weeks = 2
    farm.thursday.week_offset = 1
    db.session.commit()
    html = text_of(client.get("/calendar/"))
    assert "weekly" in html
    assert "every other week (odd ISO weeks)" in html
    with app.test_request_context():
        farm.thursday.week_offset = 0
        assert rhythm_label(farm.thursday) == "every other week (even ISO weeks)"
        farm.thursday.every_weeks = 3
        assert rhythm_label(farm.thursday).startswith("every 3 weeks")


def test_farmer_sees_the_calendar_but_cannot_change_it(app, db, client, auth, make_user, rounds):
    auth.login(make_user(Role.FARMER).email)
    html = text_of(client.get(WEEK))
    assert f'id="round-{rounds[TUE].id}"' in html
    assert "/cancel" not in html
    assert "/generate" not in html
    response = client.post(
        f"/calendar/rounds/{rounds[TUE].id}/cancel", data={"reason": "x", "confirm": "y"}
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert rounds[TUE].status == RoundStatus.OPEN


def test_round_links_to_the_round_page_when_it_exists(app, client, rounds, staff):
    html = text_of(client.get(WEEK))
    if "rounds.show" in app.view_functions:
        with app.test_request_context():
            from flask import url_for

            assert url_for("rounds.show", date=TUE) in html
    else:
        assert "2027-05-04" not in re.sub(r'value="[^"]*"', "", row_html(html, rounds[TUE].id))


# --- cancel ----------------------------------------------------------------------------


def test_cancel_round_with_reason(app, db, client, rounds, staff):
    rid = rounds[TUE].id
    response = client.post(
        f"/calendar/rounds/{rid}/cancel?from=2027-05-03",
        data={"reason": "  Flooded field ", "confirm": "y"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/calendar/?from=2027-05-03")
    db.session.expire_all()
    round_ = db.session.get(Round, rid)
    assert round_.status == RoundStatus.CANCELLED
    assert round_.cancel_reason == "Flooded field"
    audit = db.session.scalar(select(RoundLog).where(RoundLog.action == RoundAction.CANCEL))
    assert audit.note == "Flooded field"
    assert audit.user_id == staff.id
    assert "is cancelled" in text_of(client.get(WEEK))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": "", "confirm": "y"}, "Give a reason"),
        ({"reason": "   ", "confirm": "y"}, "Give a reason"),
        ({"reason": "Rain"}, "Tick the box to confirm"),
        ({"reason": "x" * 301, "confirm": "y"}, "300"),
    ],
)
def test_cancel_refuses_without_reason_or_confirmation(
    app, db, client, rounds, staff, data, message
):
    rid = rounds[TUE].id
    response = client.post(f"/calendar/rounds/{rid}/cancel", data=data, follow_redirects=True)
    assert message in text_of(response)
    db.session.expire_all()
    assert db.session.get(Round, rid).status == RoundStatus.OPEN
    assert count(db, RoundLog) == 0


def test_cancel_refuses_a_locked_round(app, db, client, rounds, staff):
    rid = rounds[TUE].id
    rounds[TUE].status = RoundStatus.LOCKED
    db.session.commit()
    response = client.post(
        f"/calendar/rounds/{rid}/cancel",
        data={"reason": "Too late", "confirm": "y"},
        follow_redirects=True,
    )
    assert "has not locked can be cancelled" in text_of(response)
    db.session.expire_all()
    round_ = db.session.get(Round, rid)
    assert round_.status == RoundStatus.LOCKED
    assert round_.cancel_reason == ""
    assert count(db, RoundLog) == 0


def test_unknown_round_is_404(app, client, rounds, staff):
    data = {"reason": "x", "confirm": "y"}
    assert client.post("/calendar/rounds/9999/cancel", data=data).status_code == 404


def test_actions_are_post_only(app, client, rounds, staff):
    assert client.get(f"/calendar/rounds/{rounds[TUE].id}/cancel").status_code == 405
    assert client.get("/calendar/generate").status_code == 405


# --- move ------------------------------------------------------------------------------


def test_move_round_holds_follow_and_sites_stay(app, db, client, farm, rounds, staff):
    membership = add_member(farm)
    db.session.add(Hold(membership_id=membership.id, round_date=TUE, mode=HoldMode.OTHERS))
    db.session.commit()
    rid = rounds[TUE].id
    wednesday = date(2027, 5, 5)  # no site serves Wednesdays
    response = client.post(
        f"/calendar/rounds/{rid}/move", data={"new_date": "2027-05-05"}, follow_redirects=True
    )
    assert "is moved to" in text_of(response)
    db.session.expire_all()
    round_ = db.session.get(Round, rid)
    assert round_.date == wednesday
    assert round_.moved_from == TUE
    hold = db.session.scalar(select(Hold))
    assert hold.round_date == wednesday
    assert [s.name for s in split.compute_split(round_).sites] == ["Old Mill"]
    html = text_of(client.get(WEEK))
    row = row_html(html, rid)
    assert "Old Mill" in row
    assert "Wednesday" in row
    assert "moved from" in row


def test_move_refuses_a_clash(app, db, client, rounds, staff):
    rid = rounds[TUE].id
    response = client.post(
        f"/calendar/rounds/{rid}/move", data={"new_date": THU.isoformat()}, follow_redirects=True
    )
    assert "There is a round on 2027-05-06 already" in text_of(response)
    db.session.expire_all()
    round_ = db.session.get(Round, rid)
    assert round_.date == TUE
    assert round_.moved_from is None
    assert count(db, RoundLog) == 0


@pytest.mark.parametrize(
    ("new_date", "message"),
    [("", "Choose a date"), ("05/05/2027", "Not a valid date"), ("2020-01-07", "in the past")],
)
def test_move_refuses_bad_dates(app, db, client, rounds, staff, new_date, message):
    rid = rounds[TUE].id
    response = client.post(
        f"/calendar/rounds/{rid}/move", data={"new_date": new_date}, follow_redirects=True
    )
    assert message in text_of(response)
    db.session.expire_all()
    assert db.session.get(Round, rid).date == TUE


# --- add (the rounds feature's one add-round endpoint, posted from this page) -----------

ADD = "/rounds/add?next=/calendar/?from%3D2027-05-03"


def test_page_posts_add_and_reopen_to_the_rounds_endpoints(app, db, client, rounds, staff):
    rounds[THU].status = RoundStatus.LOCKED
    db.session.commit()
    html = text_of(client.get(WEEK))
    assert 'action="/rounds/add?next=' in html
    assert 'name="date"' in html
    assert "/rounds/2027-05-06/reopen?next=" in html
    assert "/calendar/rounds/add" not in html
    assert f"/calendar/rounds/{rounds[THU].id}/reopen" not in html
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {"rounds.create", "rounds.reopen"} <= endpoints
    assert not {"calendar.add", "calendar.reopen"} & endpoints  # no second endpoint
    assert client.post("/calendar/rounds/add", data={"date": "2027-05-18"}).status_code == 404


def test_add_extra_round(app, db, client, rounds, staff):
    response = client.post(ADD, data={"date": "2027-05-18"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/calendar/?from=2027-05-03")
    assert "An extra round on" in text_of(client.get(response.headers["Location"]))
    added = db.session.scalar(select(Round).where(Round.date == date(2027, 5, 18)))
    assert added.extra
    assert added.status == RoundStatus.OPEN
    assert added.cutoff_at is not None
    logged = db.session.scalars(select(RoundLog)).one()
    assert (logged.round_id, logged.action, logged.user_id) == (
        added.id,
        RoundAction.EXTRA,
        staff.id,
    )


def test_add_refuses_a_date_no_site_serves(app, db, client, rounds, staff):
    before = count(db, Round)
    response = client.post(ADD, data={"date": "2027-05-05"}, follow_redirects=True)
    assert "No active pickup site serves" in text_of(response)
    assert "Pickup calendar" in text_of(response)  # back on the calendar
    assert count(db, Round) == before
    assert count(db, RoundLog) == 0


def test_add_refuses_a_date_with_a_round(app, db, client, rounds, staff):
    before = count(db, Round)
    response = client.post(ADD, data={"date": TUE.isoformat()}, follow_redirects=True)
    assert "There is a round on 2027-05-04 already" in text_of(response)
    assert count(db, Round) == before


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "Choose a date"), ("05/18/2027", "Not a valid date"), ("2020-01-07", "in the past")],
)
def test_add_refuses_bad_and_past_dates(app, db, client, rounds, staff, value, message):
    before = count(db, Round)
    response = client.post(ADD, data={"date": value}, follow_redirects=True)
    assert message in text_of(response)
    assert "Pickup calendar" in text_of(response)
    assert count(db, Round) == before
    assert count(db, RoundLog) == 0


# --- reopen ----------------------------------------------------------------------------


def test_reopen_locked_round(app, db, client, rounds, staff):
    rid = rounds[TUE].id
    rounds[TUE].status = RoundStatus.LOCKED
    rounds[TUE].locked_at = datetime(2027, 5, 3, 16)
    db.session.commit()
    response = client.post(
        "/rounds/2027-05-04/reopen?next=/calendar/?from%3D2027-05-03",
        data={"reason": "Forgot the pumpkins", "confirm": "y"},
    )
    assert response.headers["Location"].endswith("/calendar/?from=2027-05-03")
    assert "is open again" in text_of(client.get(response.headers["Location"]))
    db.session.expire_all()
    round_ = db.session.get(Round, rid)
    assert round_.status == RoundStatus.OPEN
    assert round_.locked_at is None
    audit = db.session.scalar(select(RoundLog).where(RoundLog.action == RoundAction.REOPEN))
    assert audit.note == "Forgot the pumpkins"
    assert audit.user_id == staff.id


def test_reopen_needs_reason_and_a_locked_round(app, db, client, rounds, staff):
    rid = rounds[TUE].id
    rounds[TUE].status = RoundStatus.LOCKED
    db.session.commit()
    back = "?next=/calendar/?from%3D2027-05-03"
    response = client.post(
        f"/rounds/2027-05-04/reopen{back}", data={"confirm": "y"}, follow_redirects=True
    )
    assert "Give a reason for reopening" in text_of(response)
    response = client.post(
        f"/rounds/2027-05-04/reopen{back}", data={"reason": "Oops"}, follow_redirects=True
    )
    assert "Tick the box to confirm" in text_of(response)
    db.session.expire_all()
    assert db.session.get(Round, rid).status == RoundStatus.LOCKED
    response = client.post(
        f"/rounds/2027-05-06/reopen{back}",
        data={"reason": "why not", "confirm": "y"},
        follow_redirects=True,
    )
    assert "Only a locked round can be reopened" in text_of(response)
    assert count(db, RoundLog) == 0


# --- generate --------------------------------------------------------------------------


def test_generate_is_idempotent(app, db, client, staff):
    today = farm_today()
    make_farm(start=today - timedelta(days=7), end=today + timedelta(days=120))
    db.session.commit()
    response = client.post("/calendar/generate", follow_redirects=True)
    created = count(db, Round)
    weeks = app.config["ROUNDS_WEEKS_AHEAD"]
    assert created in (2 * weeks, 2 * weeks + 1)  # Tuesdays and Thursdays, today inclusive
    assert f"{created} rounds created" in text_of(response)
    response = client.post("/calendar/generate", follow_redirects=True)
    assert count(db, Round) == created
    assert "Nothing to create" in text_of(response)


# --- sent messages ---------------------------------------------------------------------


def test_messages_list_and_detail(app, db, client, staff):
    old = OutboxMessage(
        key="a",
        to="ann@example.org",
        subject="Your share, 4 May",
        body="Tomatoes <b>2 kg</b>",
        created_at=datetime(2027, 5, 3, 16),
        transport="file",
        state=OutboxState.SENT,
    )
    new = OutboxMessage(
        key="b",
        to="bob@example.org",
        subject="Round cancelled",
        body="Hail",
        created_at=datetime(2027, 5, 10, 16),
        transport="smtp",
        state=OutboxState.SENT,
    )
    db.session.add_all([old, new])
    db.session.commit()
    html = text_of(client.get("/calendar/messages"))
    assert html.index("Round cancelled") < html.index("Your share, 4 May")  # newest first
    assert "ann@example.org" in html
    assert "file in outbox" in html
    assert "e-mail (SMTP)" in html
    detail = text_of(client.get(f"/calendar/messages/{old.id}"))
    assert "Tomatoes &lt;b&gt;2 kg&lt;/b&gt;" in detail  # the body is text, never markup
    assert client.get("/calendar/messages/9999").status_code == 404


def test_messages_are_paginated(app, db, client, staff):
    db.session.add_all(
        OutboxMessage(key=f"k{i}", to="x@example.org", subject=f"Subject {i:03d}", body="")
        for i in range(60)
    )
    db.session.commit()
    first = text_of(client.get("/calendar/messages"))
    second = text_of(client.get("/calendar/messages?page=2"))
    assert first.count("/calendar/messages/") == 50
    assert second.count("/calendar/messages/") == 10
    assert "Page 1 of 2" in first


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FARMER])
def test_messages_are_for_staff_only(app, db, client, auth, make_user, farm, role):
    member = add_member(farm).member if role == Role.MEMBER else None
    db.session.commit()
    auth.login(make_user(role, member=member).email)
    assert client.get("/calendar/messages").status_code == 403
    assert client.get("/calendar/messages/1").status_code == 403


# --- the feed --------------------------------------------------------------------------


def unfold(text: str) -> list[str]:
    return text.replace(CRLF + " ", "").split(CRLF)


def test_feed_lists_the_members_pickups(app, db, client, farm, rounds):
    farm.tuesday.address = "Mill Lane 1, back door; ring twice\\" + " (the green gate)" * 4
    mine = add_member(farm)
    theirs = add_member(farm, site=farm.thursday)
    db.session.add(Hold(membership_id=mine.id, round_date=TUE, mode=HoldMode.DONATE))
    rounds[date(2027, 5, 11)].status = RoundStatus.CANCELLED
    rounds[date(2027, 5, 11)].cancel_reason = "Hail, sorry"
    db.session.commit()

    response = client.get(f"/calendar/feed/{mine.member.calendar_token}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.mimetype_params["charset"] == "utf-8"
    text = text_of(response)
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace(CRLF, "")
    assert all(len(line.encode()) <= MAX_OCTETS for line in text.split(CRLF))
    lines = unfold(text)
    assert lines.count("BEGIN:VEVENT") == 2  # Tuesdays 4 and 11 May
    assert f"UID:round-{rounds[TUE].id}-membership-{mine.id}@csa" in lines
    assert "DTSTART:20270504T140000Z" in lines  # 16:00 in Warsaw, summer time
    assert "DTEND:20270504T170000Z" in lines
    assert "SUMMARY:Pickup: Old Mill" in lines
    escaped = "Mill Lane 1\\, back door\\; ring twice\\\\" + " (the green gate)" * 4
    assert f"LOCATION:{escaped}" in lines
    assert "STATUS:CANCELLED" in lines
    assert "DESCRIPTION:Cancelled: Hail\\, sorry" in lines
    assert "DESCRIPTION:You are away this round\\; your share is donated." in lines
    assert "Town Hall" not in text
    assert f"membership-{theirs.id}@" not in text


def test_feed_follows_a_moved_round(app, db, client, farm, rounds):
    mine = add_member(farm)
    db.session.commit()
    cal.move_round(rounds[TUE], date(2027, 5, 5), None)
    db.session.commit()
    lines = unfold(text_of(client.get(f"/calendar/feed/{mine.member.calendar_token}.ics")))
    assert "DTSTART:20270505T140000Z" in lines
    assert f"UID:round-{rounds[TUE].id}-membership-{mine.id}@csa" in lines  # same UID


def test_feed_leaves_out_past_and_paused_memberships(app, db, client, farm, rounds):
    from csa.models import MembershipStatus

    paused = add_member(farm, status=MembershipStatus.PAUSED)
    db.session.commit()
    lines = unfold(text_of(client.get(f"/calendar/feed/{paused.member.calendar_token}.ics")))
    assert "BEGIN:VEVENT" not in lines
    assert "BEGIN:VCALENDAR" in lines


def test_feed_unknown_token_is_404(app, client, farm, rounds):
    assert client.get("/calendar/feed/not-a-token.ics").status_code == 404
    assert client.get(f"/calendar/feed/{'x' * 100}.ics").status_code == 404


def test_feed_url(app, db, farm):
    member = add_member(farm).member
    db.session.commit()
    with app.test_request_context(base_url="https://farm.example.org"):
        assert feed_url(member) == (
            f"https://farm.example.org/calendar/feed/{member.calendar_token}.ics"
        )
    app.config["BASE_URL"] = "https://csa.example.org/app/"
    assert feed_url(member) == (
        f"https://csa.example.org/app/calendar/feed/{member.calendar_token}.ics"
    )
