"""Holds for a date range in one step, each round's hold deadline, and the hold log."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from csa.models import Hold, HoldAction, HoldLog, HoldMode, Role, RoundStatus
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.lifecycle import cancel_round, create_round, lock_round
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint

BEFORE_SEASON = date(2027, 4, 20)
TUESDAYS = [date(2027, 8, 3) + timedelta(weeks=i) for i in range(5)]  # 3 Aug .. 31 Aug


@pytest.fixture
def farm(db, monkeypatch):
    """A Tuesday member with a login; five August rounds: one locked, one cancelled."""
    monkeypatch.setattr(rounds_svc, "farm_today", lambda: BEFORE_SEASON)
    farm = make_farm()
    ada = add_member(farm, name="Ada Lovelace")
    other = add_member(farm, name="Bob Brown")
    rounds = [create_round(day) for day in TUESDAYS]
    assert lock_round(rounds[1])  # 10 Aug: packed already
    cancel_round(rounds[2], "Flooded field", None)  # 17 Aug
    db.session.commit()
    return farm, ada, other, rounds


@pytest.fixture
def member(farm, make_user, auth):
    user = make_user(Role.MEMBER, member=farm[1].member)
    auth.login(user.email)
    return user


def held(db, membership) -> dict[date, HoldMode]:
    db.session.expire_all()
    rows = db.session.scalars(select(Hold).where(Hold.membership_id == membership.id))
    return {h.round_date: h.mode for h in rows}


def test_a_range_holds_every_open_round_and_lists_the_others(client, db, farm, member):
    _farm, ada, other, rounds = farm
    response = client.post(
        "/share/holds",
        data={"away-first": "2027-08-03", "away-last": "2027-08-24", "away-mode": "others"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert held(db, ada) == {TUESDAYS[0]: HoldMode.OTHERS, TUESDAYS[3]: HoldMode.OTHERS}
    assert held(db, other) == {}
    result = html[html.index('id="range-result"') :]
    result = result[: result.index("</section>")]
    # Held rounds with their deadline (the cutoff in the farm's zone), the others plainly.
    assert "Tuesday, August 3, 2027" in result
    assert "Tuesday, August 24, 2027" in result
    assert result.count("on hold, given to the others") == 2
    assert result.count("Hold or cancel a hold until") == 2
    assert "locked: its shares are packed already" in result
    assert "is cancelled" in result
    assert "August 31" not in result  # outside the range
    log = db.session.scalars(select(HoldLog).order_by(HoldLog.round_date)).all()
    assert [(r.round_date, r.action, r.mode, r.by_id) for r in log] == [
        (TUESDAYS[0], HoldAction.SET, HoldMode.OTHERS, member.id),
        (TUESDAYS[3], HoldAction.SET, HoldMode.OTHERS, member.id),
    ]


def test_the_deadline_is_shown_in_the_farms_zone_and_the_readers_language(
    client, db, farm, member, app
):
    _farm, _ada, _other, rounds = farm
    html = client.get("/share/").get_data(as_text=True)
    # The cutoff is stored in UTC; Warsaw is two hours ahead in summer.
    assert rounds[3].cutoff_at.strftime("%Y-%m-%d %H:%M") == "2027-08-23 16:00"
    assert "Hold or cancel a hold until 8/23/27, 6:00\u202fPM" in html
    client.post("/account/language", data={"locale": "pl", "next": "/share/"})
    # A request of its own, as in a server: the test's app context caches the language.
    with app.app_context():
        html = client.get("/share/").get_data(as_text=True)
    assert "Hold or cancel a hold until" not in html
    assert "Wstrzymanie można ustawić lub anulować do 23.08.2027, 18:00" in html


def test_a_range_with_no_round_to_hold_is_refused_and_writes_nothing(client, db, farm, member):
    before = fingerprint()
    # Only the locked and the cancelled round lie in these days.
    response = client.post(
        "/share/holds",
        data={"away-first": "2027-08-09", "away-last": "2027-08-18", "away-mode": "donate"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "can be put on hold any more" in html
    assert 'id="away-first-error"' in html  # next to the field
    assert changed_tables(before, fingerprint()) == []
    response = client.post(
        "/share/holds",
        data={"away-first": "2027-12-01", "away-last": "2027-12-20", "away-mode": "donate"},
    )
    assert response.status_code == 400
    assert "You have no round from 2027-12-01 to 2027-12-20" in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("2027-08-24", "2027-08-03", "The last day is before the first day."),
        ("2027-05-01", "2029-05-01", "A hold covers at most 366 days"),
        ("2027-08-03", "", "This field is required."),
        ("2027-08-03", "9999-12-31", "Choose a date from"),
    ],
)
def test_a_bad_range_is_refused_next_to_the_field(client, db, farm, member, first, last, message):
    before = fingerprint()
    response = client.post(
        "/share/holds", data={"away-first": first, "away-last": last, "away-mode": "donate"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error = html[html.index('id="away-last-error"') :]
    assert message in error[: error.index("</div>")]
    assert changed_tables(before, fingerprint()) == []


def test_clear_a_range_in_one_step(client, db, farm, member):
    _farm, ada, _other, rounds = farm
    client.post(
        "/share/holds",
        data={"away-first": "2027-08-01", "away-last": "2027-08-31", "away-mode": "donate"},
    )
    assert set(held(db, ada)) == {TUESDAYS[0], TUESDAYS[3], TUESDAYS[4]}
    response = client.post(
        "/share/holds/cancel", data={"back-first": "2027-08-20", "back-last": "2027-09-30"}
    )
    assert response.status_code == 200
    assert "Holds cancelled from" in response.get_data(as_text=True)
    assert set(held(db, ada)) == {TUESDAYS[0]}
    actions = db.session.scalars(select(HoldLog.action).order_by(HoldLog.id)).all()
    assert actions == [HoldAction.SET] * 3 + [HoldAction.CLEARED] * 2
    before = fingerprint()
    response = client.post(
        "/share/holds/cancel", data={"back-first": "2027-08-20", "back-last": "2027-09-30"}
    )
    assert response.status_code == 400
    assert "There is no hold from 2027-08-20 to 2027-09-30" in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


def test_holding_again_changes_the_mode_and_logs_only_changes(client, db, farm, member):
    _farm, ada, _other, _rounds = farm
    data = {"away-first": "2027-08-01", "away-last": "2027-08-05", "away-mode": "donate"}
    client.post("/share/holds", data=data)
    client.post("/share/holds", data=data)  # the same again: nothing new
    assert db.session.scalar(select(func.count()).select_from(HoldLog)) == 1
    client.post("/share/holds", data={**data, "away-mode": "others"})
    assert held(db, ada) == {TUESDAYS[0]: HoldMode.OTHERS}
    assert db.session.scalar(select(func.count()).select_from(HoldLog)) == 2


def test_a_round_locked_meanwhile_is_listed_not_held(client, db, farm, member):
    _farm, ada, _other, rounds = farm
    assert lock_round(rounds[0])
    db.session.commit()
    response = client.post(
        "/share/holds",
        data={"away-first": "2027-08-01", "away-last": "2027-08-25", "away-mode": "donate"},
    )
    assert response.status_code == 200
    assert set(held(db, ada)) == {TUESDAYS[3]}
    assert rounds[2].status == RoundStatus.CANCELLED


def test_staff_and_strangers_cannot_post_a_members_range(client, db, farm, make_user, auth):
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    data = {"away-first": "2027-08-01", "away-last": "2027-08-25", "away-mode": "donate"}
    assert client.post("/share/holds", data=data).status_code == 403
    auth.logout()
    assert client.post("/share/holds", data=data).status_code in (302, 401, 403)
    assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


# --- a coordinator puts a hold for a household ---------------------------------------------


@pytest.fixture
def coordinator(db, farm, make_user, auth):
    user = make_user(Role.COORDINATOR, email="cora@example.org")
    user.name = "Cora Coordinator"
    db.session.commit()
    auth.login(user.email)
    return user


def outbox(db):
    from csa.models import OutboxMessage

    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_a_coordinator_holds_a_range_for_a_member_who_is_told_once(client, db, farm, coordinator):
    _farm, ada, other, _rounds = farm
    ada.member.locale = "pl"
    db.session.commit()
    response = client.post(
        f"/register/members/{ada.member_id}/holds",
        data={
            "hold-first": "2027-08-01",
            "hold-last": "2027-08-31",
            "hold-mode": "others",
            "hold-action": "set",
        },
    )
    assert response.status_code == 302
    assert set(held(db, ada)) == {TUESDAYS[0], TUESDAYS[3], TUESDAYS[4]}
    assert held(db, other) == {}
    mails = outbox(db)
    assert [m.to for m in mails] == [ada.member.email]  # one mail for the whole action
    body = mails[0].body
    assert "Cora Coordinator z gospodarstwa rolnego wstrzymał(a) Twój udział" in body  # Polish
    assert mails[0].subject == "Twój udział jest wstrzymany"
    assert body.count("2027") >= 3
    # The household's page shows the log, with who did it.
    html = client.get(f"/register/members/{ada.member_id}").get_data(as_text=True)
    log = html[html.index("Hold log") :]
    assert log.count("Cora Coordinator") == 3
    assert log.count("on hold, given to the others") == 3
    # Taking one round off again is logged and told too, in one more mail.
    response = client.post(
        f"/register/members/{ada.member_id}/holds",
        data={"hold-first": "2027-08-31", "hold-mode": "donate", "hold-action": "clear"},
    )
    assert response.status_code == 302
    assert set(held(db, ada)) == {TUESDAYS[0], TUESDAYS[3]}
    assert len(outbox(db)) == 2
    actions = db.session.scalars(select(HoldLog.action).order_by(HoldLog.id)).all()
    assert actions == [HoldAction.SET] * 3 + [HoldAction.CLEARED]


def test_the_members_own_changes_show_in_the_log(client, db, farm, member, make_user, auth):
    _farm, ada, _other, _rounds = farm
    client.post("/share/hold/2027-08-03", data={"mode": "donate"})
    client.post("/share/hold/2027-08-03/cancel")
    auth.logout()
    staff = make_user(Role.COORDINATOR)
    auth.login(staff.email)
    html = client.get(f"/register/members/{ada.member_id}").get_data(as_text=True)
    log = html[html.index("Hold log") :]
    assert "(the household)" in log
    assert "hold cancelled" in log
    assert "on hold, donated" in log
    assert outbox(db) == []  # a member's own change mails nobody


def test_a_coordinators_refused_hold_writes_nothing(client, db, farm, coordinator):
    _farm, ada, _other, _rounds = farm
    before = fingerprint()
    response = client.post(
        f"/register/members/{ada.member_id}/holds",
        data={"hold-first": "2027-08-10", "hold-mode": "donate", "hold-action": "set"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="hold-first-error"' in html
    assert "can be put on hold any more" in html
    response = client.post(
        f"/register/members/{ada.member_id}/holds",
        data={"hold-first": "2027-08-31", "hold-last": "2027-08-01", "hold-mode": "donate"},
    )
    assert response.status_code == 400
    assert "The last day is before the first day." in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


def test_a_member_cannot_put_a_hold_for_another_household(client, db, farm, member):
    _farm, ada, other, _rounds = farm
    data = {"hold-first": "2027-08-03", "hold-mode": "donate", "hold-action": "set"}
    assert client.post(f"/register/members/{other.member_id}/holds", data=data).status_code == 403
    assert client.post(f"/register/members/{ada.member_id}/holds", data=data).status_code == 403
    # The member's own range form acts on its own household only, whatever the form carries.
    response = client.post(
        "/share/holds",
        data={
            "away-first": "2027-08-03",
            "away-last": "2027-08-03",
            "away-mode": "donate",
            "membership": str(other.id),
            "member": str(other.member_id),
        },
    )
    assert response.status_code == 200
    assert held(db, other) == {}
    assert set(held(db, ada)) == {TUESDAYS[0]}


def test_the_demo_has_a_range_hold_a_coordinators_hold_and_a_moved_round(runner, db):
    from csa.models import Round, User

    assert runner.invoke(args=["csa", "demo"]).exit_code == 0
    authors = set(
        db.session.scalars(select(User.email).join(HoldLog, HoldLog.by_id == User.id).distinct())
    )
    assert authors == {"member@demo.farm", "coordinator@demo.farm"}
    moved = db.session.scalars(select(Round).where(Round.moved_from.is_not(None))).all()
    assert len(moved) == 1
    assert moved[0].date.weekday() == 2  # a Wednesday, from the Tuesday it was planned on
