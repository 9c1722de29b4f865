"""Moving a round, or changing a site's time window, tells the households concerned.

An e-mail in each recipient's language, queued in the transaction of the change; a
"moved from ..." note on the member's pages and in the calendar feed; the new times on the
page and in the feed.
"""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import select

from csa.models import OutboxMessage, Role, Round
from csa.notices.notify import notify_moved
from csa.rounds.lifecycle import create_round, lock_round
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint

TUE = date(2027, 6, 1)
NEXT_TUE = date(2027, 6, 8)
WED = date(2027, 6, 2)  # no site serves Wednesdays: the moved round still feeds Old Mill
THU = date(2027, 6, 3)


@pytest.fixture
def farm(db):
    farm = make_farm()
    ada = add_member(farm, name="Ada Lovelace")
    ola = add_member(farm, name="Ola Nowak")
    ola.member.locale = "pl"
    thu = add_member(farm, name="Theo Thursday", site=farm.thursday)
    rounds = {day: create_round(day) for day in (TUE, THU, NEXT_TUE)}
    db.session.commit()
    return farm, (ada, ola, thu), rounds


@pytest.fixture
def staff(client, auth, make_user):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def mails(db) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def move(client, round_: Round, day: date):
    return client.post(f"/calendar/rounds/{round_.id}/move", data={"new_date": day.isoformat()})


def test_moving_a_round_mails_its_households_in_their_language(client, db, farm, staff):
    _farm, (ada, ola, thu), rounds = farm
    response = move(client, rounds[TUE], WED)
    assert response.status_code == 302
    flashed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 e-mails to the households concerned are queued." in flashed
    sent = mails(db)
    assert sorted(m.to for m in sent) == sorted([ada.member.email, ola.member.email])
    english = next(m for m in sent if m.to == ada.member.email)
    polish = next(m for m in sent if m.to == ola.member.email)
    assert english.subject == "Pickup moved from 2027-06-01 to 2027-06-02"
    assert "is moved to Wednesday, June 2, 2027" in english.body
    assert "Old Mill" in english.body
    assert "2027-06-01" in polish.subject
    assert "Pickup moved" not in polish.subject
    assert "środa, 2 czerwca 2027" in polish.body


def test_a_notice_is_queued_once_and_a_second_move_is_news(client, db, farm, staff):
    _farm, _members, rounds = farm
    move(client, rounds[TUE], WED)
    assert len(mails(db)) == 2
    # The same notice queued again (a retried request, a second run) sends nothing more.
    round_ = db.session.get(Round, rounds[TUE].id)
    assert notify_moved(round_, TUE) == 0
    db.session.commit()
    assert len(mails(db)) == 2
    move(client, round_, date(2027, 5, 31))  # a Monday: moved again
    sent = mails(db)
    assert len(sent) == 4
    assert "Pickup moved from 2027-06-02 to 2027-05-31" in [m.subject for m in sent[2:]]


def test_a_refused_move_writes_and_mails_nothing(client, db, farm, staff):
    _farm, _members, rounds = farm
    before = fingerprint()
    assert move(client, rounds[TUE], THU).status_code == 302  # a clash: refused
    assert move(client, rounds[TUE], date(2020, 1, 7)).status_code == 302  # past
    assert changed_tables(before, fingerprint()) == []
    assert lock_round(rounds[TUE])
    db.session.commit()
    before = fingerprint()
    move(client, rounds[TUE], WED)  # locked: cannot move
    assert changed_tables(before, fingerprint()) == []


def test_the_member_page_and_feed_say_moved_from(client, db, farm, staff, make_user, auth):
    _farm, (ada, _ola, _thu), rounds = farm
    move(client, rounds[TUE], WED)
    auth.logout()
    user = make_user(Role.MEMBER, member=ada.member)
    auth.login(user.email)
    html = client.get("/share/").get_data(as_text=True)
    assert "moved from Jun 1, 2027" in html
    page = client.get("/share/round/2027-06-02").get_data(as_text=True)
    assert "moved from Jun 1, 2027" in page
    feed = client.get(f"/calendar/feed/{ada.member.calendar_token}.ics").get_data(as_text=True)
    event = feed[feed.index("DTSTART:20270602T140000Z") :]  # 16:00 in Warsaw
    event = event[: event.index("END:VEVENT")]
    assert "Moved from Tuesday\\, June 1\\, 2027." in event.replace("\r\n ", "")


# --- a site's time window ---------------------------------------------------------------


def site_form(site, **changes):
    data = {
        "name": site.name,
        "address": site.address,
        "weekday": str(site.weekday),
        "opens": site.opens.strftime("%H:%M"),
        "closes": site.closes.strftime("%H:%M"),
        "capacity": str(site.capacity),
        "every_weeks": str(site.every_weeks),
        "week_offset": str(site.week_offset),
    }
    return {**data, **changes}


def test_a_new_time_window_tells_the_sites_households(client, db, farm, staff, make_user, auth):
    f, (ada, ola, thu), _rounds = farm
    response = client.post(
        f"/setup/sites/{f.tuesday.id}/edit",
        data=site_form(f.tuesday, opens="17:00", closes="20:30"),
    )
    assert response.status_code == 302
    sent = mails(db)
    assert sorted(m.to for m in sent) == sorted([ada.member.email, ola.member.email])
    english = next(m for m in sent if m.to == ada.member.email)
    assert "from 5:00\u202fPM to 8:30\u202fPM" in english.body
    assert "before: 4:00\u202fPM to 7:00\u202fPM" in english.body
    assert "Tuesday, June 1, 2027" in english.body  # the next pickup
    polish = next(m for m in sent if m.to == ola.member.email)
    assert "17:00" in polish.body
    assert "20:30" in polish.body
    assert "hands out shares at new times" not in polish.body
    # Saving the site again without a new window mails nobody.
    client.post(
        f"/setup/sites/{f.tuesday.id}/edit",
        data=site_form(f.tuesday, opens="17:00", closes="20:30", capacity="41"),
    )
    assert len(mails(db)) == 2
    # The page and the feed read the site: the new times are there.
    auth.logout()
    user = make_user(Role.MEMBER, member=ada.member)
    auth.login(user.email)
    html = client.get("/share/").get_data(as_text=True)
    assert "5:00\u202fPM–8:30\u202fPM" in html
    feed = client.get(f"/calendar/feed/{ada.member.calendar_token}.ics").get_data(as_text=True)
    assert "DTSTART:20270601T150000Z" in feed  # 17:00 in Warsaw
    assert "DTEND:20270601T183000Z" in feed


def test_a_site_without_coming_open_rounds_mails_nobody(client, db, farm, staff):
    f, _members, rounds = farm
    assert lock_round(rounds[THU])
    db.session.commit()
    client.post(f"/setup/sites/{f.thursday.id}/edit", data=site_form(f.thursday, opens="14:00"))
    db.session.expire_all()
    assert f.thursday.opens == time(14)
    assert mails(db) == []


def test_a_refused_site_change_mails_nobody(client, db, farm, staff):
    f, _members, _rounds = farm
    before = fingerprint()
    response = client.post(
        f"/setup/sites/{f.tuesday.id}/edit",
        data=site_form(f.tuesday, opens="20:00", closes="19:00"),
    )
    assert response.status_code == 400
    assert changed_tables(before, fingerprint()) == []
