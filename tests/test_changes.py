"""Changes with an effective date: history, not an edit (csa/changes).

The terms in force on a date are the latest approved change effective on or before it; the
split, the sheets, the member's page and the season's figures read them per round's date,
locked rounds never move, and the season balance carries over a change of weight.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from csa.changes import operations as svc
from csa.changes import views as change_views
from csa.changes.terms import in_force, in_force_one, places_taken_from
from csa.core.allocation import Claimant, CropHarvest, split_round
from csa.errors import FieldError, ValidationFailed
from csa.models import (
    Allocation,
    ChangeState,
    MembershipChange,
    OutboxMessage,
    Role,
    Round,
    RoundStatus,
)
from csa.rounds import lifecycle
from csa.rounds.split import compute_split, live_split, round_split
from csa.sheets.build import sheet_data as gather
from tests.factories import add_member, make_farm
from tests.test_rounds import harvest

TODAY = date(2027, 4, 20)  # before the season (2027-05-01 .. 2027-11-30)
NOW = datetime(2027, 4, 20, 10, 0)  # UTC
TUESDAYS = [date(2027, 5, 4) + timedelta(weeks=k) for k in range(8)]


def rounds(db, days=TUESDAYS):
    made = [Round(date=d, status=RoundStatus.OPEN) for d in days]
    db.session.add_all(made)
    db.session.flush()
    return made


def data(day, share_type, shares, site):
    return svc.ChangeData(day, share_type, shares, site)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def farm(db):
    farm = make_farm()
    rounds(db)
    db.session.commit()
    return farm


# --- the terms in force --------------------------------------------------------------------


def test_terms_in_force_are_the_latest_approved_change_on_or_before_the_date(db, farm):
    ada = add_member(farm, name="Ada")
    bob = add_member(farm, name="Bob", share_type=farm.half)
    svc.enter_change(ada, data(TUESDAYS[2], farm.half, 1, farm.tuesday), None, TODAY, NOW)
    svc.enter_change(ada, data(TUESDAYS[4], farm.family, 2, farm.tuesday), None, TODAY, NOW)
    # Requested, declined and withdrawn changes are never in force.
    asked = svc.request_change(
        bob, data(TUESDAYS[1], farm.full, 3, farm.tuesday), _user(db), TODAY, NOW
    )
    svc.decline(asked, _user(db), "no room")
    db.session.commit()

    def terms(day):
        t = in_force(day, [ada.id, bob.id])
        return {m: (x.share_type.name, x.shares, x.site.name) for m, x in t.items()}

    assert terms(TUESDAYS[1])[ada.id] == ("Full", 1, "Old Mill")
    assert terms(TUESDAYS[2])[ada.id] == ("Half", 1, "Old Mill")
    assert terms(TUESDAYS[3])[ada.id] == ("Half", 1, "Old Mill")
    assert terms(TUESDAYS[6])[ada.id] == ("Family", 2, "Old Mill")
    assert terms(TUESDAYS[6])[bob.id] == ("Half", 1, "Old Mill")
    # The membership's own columns are the terms at its start, never edited.
    db.session.refresh(ada)
    assert (ada.share_type_id, ada.shares) == (farm.full.id, 1)


def _user(db, role=Role.COORDINATOR, email="coord@example.org", member=None):
    from csa.models import User

    found = db.session.scalar(select(User).where(User.email == email))
    if found:
        return found
    user = User(email=email, role=role, member=member)
    db.session.add(user)
    db.session.flush()
    return user


# --- which rounds a change may start from ----------------------------------------------------


def test_a_change_starts_only_from_a_coming_open_round_before_its_cutoff(db, farm):
    ada = add_member(farm, name="Ada")
    db.session.commit()
    later = data(TUESDAYS[1], farm.half, 1, farm.tuesday)
    before = count(db, MembershipChange)
    # Not a date without a round, not a past round, not one past its cutoff, not after the end.
    for day, today, now in [
        (date(2027, 5, 5), TODAY, NOW),  # a Wednesday: no round
        (TUESDAYS[0], date(2027, 5, 5), datetime(2027, 5, 5, 8)),  # in the past
        (TUESDAYS[0], date(2027, 5, 3), datetime(2027, 5, 3, 17)),  # cutoff 5-03 18:00 Warsaw
    ]:
        with pytest.raises(FieldError) as refused:
            svc.request_change(ada, data(day, farm.half, 1, farm.tuesday), _user(db), today, now)
        assert refused.value.field == "effective"
    # Open but past its hold deadline: refused; the next one is fine.
    assert TUESDAYS[0] not in {
        r.date for r in svc.effective_rounds(ada, date(2027, 5, 3), datetime(2027, 5, 3, 17))
    }
    # A round after a locked one only: a locked round's split never meets new terms.
    third = db.session.scalar(select(Round).where(Round.date == TUESDAYS[2]))
    third.status = RoundStatus.LOCKED
    db.session.flush()
    with pytest.raises(FieldError):
        svc.request_change(ada, later, _user(db), TODAY, NOW)
    third.status = RoundStatus.OPEN
    db.session.flush()
    # The same terms as in force: nothing would change.
    with pytest.raises(FieldError) as same:
        svc.request_change(
            ada, data(TUESDAYS[1], farm.full, 1, farm.tuesday), _user(db), TODAY, NOW
        )
    assert same.value.field == "share_type"
    assert count(db, MembershipChange) == before
    first = svc.request_change(ada, later, _user(db), TODAY, NOW)
    # One request waits at a time: asking again withdraws the one waiting.
    second = svc.request_change(
        ada, data(TUESDAYS[3], farm.family, 1, farm.tuesday), _user(db), TODAY, NOW
    )
    assert first.state == ChangeState.WITHDRAWN
    assert second.state == ChangeState.REQUESTED


def test_a_full_site_is_refused_and_a_move_frees_the_old_place_from_its_date(db, farm):
    # Town Hall (Thursday) has 3 places; round dates are Tuesdays, so give it Tuesdays too.
    farm.thursday.weekday = 1
    hall = [add_member(farm, name=f"Hall {n}", site=farm.thursday) for n in range(3)]
    ada = add_member(farm, name="Ada")
    db.session.commit()
    with pytest.raises(FieldError) as full:
        svc.request_change(
            ada, data(TUESDAYS[1], farm.full, 1, farm.thursday), _user(db), TODAY, NOW
        )
    assert full.value.field == "site"
    # One of the hall leaves for the mill from round 4: Ada may come from round 4, not before.
    svc.enter_change(hall[0], data(TUESDAYS[4], farm.full, 1, farm.tuesday), None, TODAY, NOW)
    assert places_taken_from(farm.thursday, farm.season, TUESDAYS[1], ada.id) == 3
    assert places_taken_from(farm.thursday, farm.season, TUESDAYS[4], ada.id) == 2
    with pytest.raises(FieldError):
        svc.enter_change(ada, data(TUESDAYS[2], farm.full, 1, farm.thursday), None, TODAY, NOW)
    svc.enter_change(ada, data(TUESDAYS[4], farm.full, 1, farm.thursday), None, TODAY, NOW)
    assert places_taken_from(farm.thursday, farm.season, TUESDAYS[0]) == 3


def test_approval_checks_again_and_decisions_happen_once(db, farm):
    ada = add_member(farm, name="Ada")
    coord = _user(db)
    asked = svc.request_change(
        ada, data(TUESDAYS[1], farm.half, 1, farm.tuesday), coord, TODAY, NOW
    )
    db.session.commit()
    # Its round's cutoff passed while it waited: refused, nothing written.
    late = datetime(2027, 5, 10, 17)
    with pytest.raises(FieldError):
        svc.approve(asked, coord, date(2027, 5, 10), late)
    db.session.rollback()
    assert db.session.get(MembershipChange, asked.id).state == ChangeState.REQUESTED
    svc.approve(asked, coord, TODAY, NOW)
    db.session.commit()
    with pytest.raises(Exception, match="decided or withdrawn"):
        svc.decline(asked, coord, "too late")
    with pytest.raises(FieldError):
        svc.decline(
            svc.request_change(
                ada, data(TUESDAYS[3], farm.family, 1, farm.tuesday), coord, TODAY, NOW
            ),
            coord,
            "   ",
        )


# --- the split, the sheets, the member's page ---------------------------------------------------


def test_approving_a_change_moves_the_open_rounds_split_at_once(db, farm):
    ada = add_member(farm, name="Ada")
    bob = add_member(farm, name="Bob")
    second = db.session.scalar(select(Round).where(Round.date == TUESDAYS[1]))
    harvest(db, second, farm.pumpkins, 30_000)
    db.session.commit()
    first = live_split(second)  # cached now
    assert {s.membership_id: s.units for s in first.splits[farm.pumpkins.id].shares} == {
        ada.id: 15,
        bob.id: 15,
    }
    asked = svc.request_change(
        ada, data(TUESDAYS[1], farm.family, 3, farm.tuesday), _user(db), TODAY, NOW
    )
    db.session.commit()
    again = live_split(second)  # a request bumps the version (conservative), same split
    assert again.splits == first.splits
    svc.approve(asked, _user(db), TODAY, NOW)
    db.session.commit()
    after = {s.membership_id: s.units for s in live_split(second).splits[farm.pumpkins.id].shares}
    assert after == {ada.id: harvest_of(4500, 5500, 30), bob.id: harvest_of(1000, 5500, 30)}
    # A move to a Thursday site takes Bob out of the Tuesday rounds from its date on.
    svc.enter_change(bob, data(TUESDAYS[1], farm.full, 1, farm.thursday), None, TODAY, NOW)
    db.session.commit()
    split = compute_split(second)
    assert set(split.memberships) == {ada.id}
    assert (
        bob.id
        in compute_split(
            db.session.scalar(select(Round).where(Round.date == TUESDAYS[0]))
        ).memberships
    )


def harvest_of(weight: int, total: int, units: int) -> int:
    return round(Fraction(units * weight, total))


def test_sheets_and_round_table_use_the_terms_of_each_rounds_date(db, farm):
    farm.thursday.weekday = 1  # both sites on Tuesdays
    ada = add_member(farm, name="Ada Lovelace")
    first, second = (db.session.scalar(select(Round).where(Round.date == d)) for d in TUESDAYS[:2])
    for r in (first, second):
        harvest(db, r, farm.tomatoes, 10_000)
    svc.enter_change(ada, data(TUESDAYS[1], farm.half, 2, farm.thursday), None, TODAY, NOW)
    db.session.commit()
    lifecycle.lock_round(first)
    db.session.commit()
    before, after = gather(round_split(first)), gather(round_split(second))
    rows = {s.name: [(r.name, r.share) for r in s.rows] for s in before.sites}
    assert rows["Old Mill"] == [("Ada Lovelace", "Full")]
    rows = {s.name: [(r.name, r.share) for r in s.rows] for s in after.sites}
    assert rows == {"Old Mill": [], "Town Hall": [("Ada Lovelace", "2\u00a0×\u00a0Half")]}


def test_member_page_shows_this_rounds_site_and_share(
    db, farm, make_user, auth, client, monkeypatch
):
    ada = add_member(farm, name="Ada")
    farm.thursday.weekday = 1
    svc.enter_change(ada, data(TUESDAYS[0], farm.half, 2, farm.thursday), None, TODAY, NOW)
    db.session.commit()
    monkeypatch.setattr(lifecycle, "farm_today", lambda: TODAY)
    user = make_user(Role.MEMBER, member=ada.member)
    auth.login(user.email)
    page = client.get("/share/").get_data(as_text=True)
    assert "Town Hall" in page
    assert "Half × 2" in page


# --- the season balance when a weight changes ------------------------------------------------


def test_season_totals_stay_within_one_step_across_a_change_of_weight(db, farm):
    """Lock rounds, approve a change of weight, lock more rounds: the balance carried over
    the change is the one before it, and each season total stays within one step of the
    sum of each round's entitlement at that round's weight."""
    rng = random.Random(11)
    members = [
        add_member(farm, name="Ada", share_type=farm.half),
        add_member(farm, name="Bob"),
        add_member(farm, name="Cy", share_type=farm.family),
    ]
    made = db.session.scalars(select(Round).order_by(Round.date)).all()
    for r in made:
        harvest(db, r, farm.pumpkins, rng.randrange(1, 12) * 1000)
        harvest(db, r, farm.tomatoes, rng.randrange(500, 9000))
    db.session.commit()
    for r in made[:3]:
        assert lifecycle.lock_round(r)
        db.session.commit()
    asked = svc.request_change(
        members[0], data(made[3].date, farm.family, 2, farm.tuesday), _user(db), TODAY, NOW
    )
    svc.approve(asked, _user(db), TODAY, NOW)
    db.session.commit()
    for r in made[3:]:
        assert lifecycle.lock_round(r)
        db.session.commit()
    rows = db.session.execute(
        select(Allocation, Round.date).join(Round, Round.id == Allocation.round_id)
    ).all()
    weights = {r.date: {} for r in made}
    for m in members:
        for r in made:
            weights[r.date][m.id] = in_force_one(m, r.date).weight_milli
    assert weights[made[2].date][members[0].id] == 500
    assert weights[made[3].date][members[0].id] == 3000
    entitled: Counter = Counter()
    received: Counter = Counter()
    by_round = {}
    for a, day in rows:
        key = (a.membership_id, a.crop_id)
        entitled[key] += Fraction(a.entitled_num, a.entitled_den)
        received[key] += a.units
        by_round[(day, key)] = a
    for (day, key), a in by_round.items():  # each entitlement used that round's weight
        units = sum(b.units for (d, k), b in by_round.items() if d == day and k[1] == key[1])
        total = sum(weights[day].values())
        assert Fraction(a.entitled_num, a.entitled_den) == Fraction(
            units * weights[day][key[0]], total
        )
    for key in entitled:
        assert abs(entitled[key] - received[key]) < 1
    # The balance into the first round after the change is the balance out of the last before.
    for crop in (farm.pumpkins, farm.tomatoes):
        key = (members[0].id, crop.id)
        last = by_round[(made[2].date, key)]
        out = (
            Fraction(last.balance_num, last.balance_den)
            + Fraction(last.entitled_num, last.entitled_den)
            - last.units
        )
        nxt = by_round[(made[3].date, key)]
        assert Fraction(nxt.balance_num, nxt.balance_den) == out
    # Locked rounds never move: the rounds before the change kept their weights.
    assert by_round[(made[0].date, (members[0].id, farm.pumpkins.id))].entitled_num >= 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=st.lists(st.sampled_from((500, 1000, 1500, 2000, 3000)), min_size=2, max_size=8),
    harvests=st.lists(st.integers(min_value=0, max_value=25), min_size=2, max_size=24),
    data=st.data(),
)
def test_weight_changes_keep_every_balance_within_one_step(weights, harvests, data):
    """A change of weight alone (the member still takes part in every round) keeps the core's
    bound: the proof needs balances within (-1, 1) that add up to zero, which a new weight
    does not disturb. Totals are counted round by round with each round's weight."""
    current = dict(enumerate(weights, start=1))
    balances: dict = {}
    entitled: Counter = Counter()
    received: Counter = Counter()
    for n, units in enumerate(harvests):
        if data.draw(st.booleans()):
            who = data.draw(st.sampled_from(sorted(current)))
            current[who] = data.draw(st.sampled_from((250, 500, 1000, 1500, 3000)))
        claimants = [Claimant(m, w) for m, w in current.items()]
        result = split_round(f"r{n}", [CropHarvest(1, units * 1000, 1000)], claimants, balances)
        total = sum(current.values())
        for m, w in current.items():
            entitled[m] += Fraction(units * w, total)
        for s in result[1].shares:
            received[s.membership_id] += s.units
            balances[(s.membership_id, 1)] = s.balance_out
            assert s.balance_out == entitled[s.membership_id] - received[s.membership_id]
        assert all(abs(entitled[m] - received[m]) < 1 for m in current)


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setattr(change_views, "farm_today", lambda: TODAY)
    monkeypatch.setattr(change_views, "utcnow", lambda: NOW)
    monkeypatch.setattr(lifecycle, "farm_today", lambda: TODAY)


def test_member_asks_coordinator_approves_member_is_told(db, farm, make_user, auth, client, pinned):
    ada = add_member(farm, name="Ada")
    ada.member.locale = "pl"
    member = make_user(Role.MEMBER, member=ada.member)
    coord = make_user(Role.COORDINATOR)
    db.session.commit()
    auth.login(member.email)
    page = client.get("/changes/")
    assert page.status_code == 200
    assert "Old Mill" in page.get_data(as_text=True)
    form = {
        "effective": TUESDAYS[2].isoformat(),
        "share_type": farm.half.id,
        "shares": 2,
        "site": farm.tuesday.id,
    }
    # A round that is not offered: 400, the message next to the field, nothing written.
    refused = client.post("/changes/", data={**form, "effective": "2027-05-05"})
    assert refused.status_code == 400
    assert count(db, MembershipChange) == 0
    assert client.post("/changes/", data=form).status_code == 302
    change = db.session.scalar(select(MembershipChange))
    assert change.state == ChangeState.REQUESTED
    assert change.requested_by_id == member.id
    auth.logout()
    auth.login(coord.email)
    listed = client.get("/changes/requests").get_data(as_text=True)
    assert "Ada" in listed
    assert "2 × Half at Old Mill" in listed
    # Declining needs a reason.
    assert client.post(f"/changes/{change.id}/decline", data={"reason": ""}).status_code == 400
    db.session.refresh(change)
    assert change.state == ChangeState.REQUESTED
    assert count(db, OutboxMessage) == 0
    assert client.post(f"/changes/{change.id}/approve").status_code == 303
    db.session.refresh(change)
    assert change.state == ChangeState.APPROVED
    assert change.decided_by_id == coord.id
    mail = db.session.scalar(select(OutboxMessage))
    assert mail.to == ada.member.email
    assert "Twój udział" in mail.subject or "2027-05-18" in mail.subject


def test_decline_tells_the_reason_and_a_member_sees_only_its_own(
    db, farm, make_user, auth, client, pinned
):
    ada, bob = add_member(farm, name="Ada"), add_member(farm, name="Bob Secretname")
    coord = make_user(Role.COORDINATOR)
    asked = svc.request_change(
        bob, data(TUESDAYS[1], farm.half, 1, farm.tuesday), coord, TODAY, NOW
    )
    member = make_user(Role.MEMBER, member=ada.member)
    db.session.commit()
    auth.login(member.email)
    assert "Secretname" not in client.get("/changes/").get_data(as_text=True)
    assert client.post(f"/changes/{asked.id}/withdraw").status_code == 404
    assert client.get("/changes/requests").status_code == 403
    assert client.post(f"/changes/{asked.id}/approve").status_code == 403
    auth.logout()
    auth.login(coord.email)
    assert (
        client.post(f"/changes/{asked.id}/decline", data={"reason": "Site is closing"}).status_code
        == 303
    )
    db.session.refresh(asked)
    assert asked.state == ChangeState.DECLINED
    assert asked.reason == "Site is closing"
    mail = db.session.scalar(select(OutboxMessage))
    assert "Site is closing" in mail.body
    assert mail.to == bob.member.email


def test_member_withdraws_and_coordinator_enters_a_change_directly(
    db, farm, make_user, auth, client, pinned
):
    ada = add_member(farm, name="Ada")
    member = make_user(Role.MEMBER, member=ada.member)
    coord = make_user(Role.COORDINATOR)
    asked = svc.request_change(
        ada, data(TUESDAYS[1], farm.half, 1, farm.tuesday), member, TODAY, NOW
    )
    db.session.commit()
    auth.login(member.email)
    assert client.post(f"/changes/{asked.id}/withdraw").status_code == 303
    db.session.refresh(asked)
    assert asked.state == ChangeState.WITHDRAWN
    auth.logout()
    auth.login(coord.email)
    page = client.get(f"/changes/membership/{ada.id}")
    assert page.status_code == 200
    reply = client.post(
        f"/changes/membership/{ada.id}",
        data={
            "effective": TUESDAYS[3].isoformat(),
            "share_type": farm.family.id,
            "shares": 1,
            "site": farm.tuesday.id,
        },
    )
    assert reply.status_code == 303
    entered = db.session.scalar(
        select(MembershipChange).where(MembershipChange.state == ChangeState.APPROVED)
    )
    assert entered.decided_by_id == coord.id
    assert entered.requested_by_id == coord.id
    assert in_force_one(ada, TUESDAYS[3]).share_type.name == "Family"
    assert f"/changes/membership/{ada.id}" in client.get(
        f"/register/members/{ada.member_id}"
    ).get_data(as_text=True)


def test_calendar_counts_and_the_members_feed_follow_the_change(db, farm, client):
    ada = add_member(farm, name="Ada", shares=2)
    add_member(farm, name="Bob")
    thursdays = rounds(db, [d + timedelta(days=2) for d in TUESDAYS[:4]])
    svc.enter_change(ada, data(TUESDAYS[2], farm.half, 3, farm.thursday), None, TODAY, NOW)
    db.session.commit()
    shares = {r.round.date: r.shares for r in lifecycle.calendar(TUESDAYS[0], thursdays[-1].date)}
    assert [shares[d] for d in TUESDAYS[:4]] == [3, 3, 1, 1]
    assert [shares[r.date] for r in thursdays] == [0, 0, 3, 3]
    feed = client.get(f"/calendar/feed/{ada.member.calendar_token}.ics").get_data(as_text=True)
    assert f"round-{thursdays[2].id}-membership-{ada.id}" in feed
    assert f"round-{thursdays[1].id}-membership-{ada.id}" not in feed
    first_tuesday = db.session.scalar(select(Round.id).where(Round.date == TUESDAYS[0]))
    third_tuesday = db.session.scalar(select(Round.id).where(Round.date == TUESDAYS[2]))
    assert f"round-{first_tuesday}-membership-{ada.id}" in feed
    assert f"round-{third_tuesday}-membership-{ada.id}" not in feed


def test_the_registers_capacity_counts_a_household_at_the_site_it_moved_to(db, farm):
    from csa.models import Member, MembershipStatus
    from csa.register import operations as register
    from csa.register.waiting import places_taken

    farm.thursday.weekday = 1
    add_member(farm, name="Hall 1", site=farm.thursday)
    add_member(farm, name="Hall 2", site=farm.thursday)
    mover = add_member(farm, name="Mover")
    assert places_taken(farm.thursday.id, farm.season.id) == 2
    svc.enter_change(mover, data(TUESDAYS[3], farm.full, 1, farm.thursday), None, TODAY, NOW)
    db.session.commit()
    assert places_taken(farm.thursday.id, farm.season.id) == 3  # full from round 4 on
    newcomer = Member(name="Newcomer", email="new@example.org")
    db.session.add(newcomer)
    db.session.flush()
    terms = register.MembershipData(
        season=farm.season,
        share_type=farm.full,
        site=farm.thursday,
        shares=1,
        start=None,
        end=None,
        status=MembershipStatus.ACTIVE,
    )
    with pytest.raises(ValidationFailed):
        register.create_membership(newcomer, terms)


def test_a_locked_round_keeps_its_stored_split_and_its_terms(db, farm):
    ada = add_member(farm, name="Ada")
    add_member(farm, name="Bob")
    first = db.session.scalar(select(Round).where(Round.date == TUESDAYS[0]))
    harvest(db, first, farm.pumpkins, 7_000)
    db.session.commit()
    assert lifecycle.lock_round(first)
    db.session.commit()

    def stored():
        return sorted(
            db.session.execute(
                select(Allocation.membership_id, Allocation.units, Allocation.entitled_num)
            ).all()
        )

    before = stored()
    svc.enter_change(ada, data(TUESDAYS[1], farm.family, 2, farm.thursday), None, TODAY, NOW)
    db.session.commit()
    assert stored() == before
    shown = round_split(first).memberships[ada.id]
    assert (shown.share_type.name, shown.shares, shown.site.name) == ("Full", 1, "Old Mill")
    # No change may start on or before a locked round.
    with pytest.raises(FieldError):
        svc.enter_change(ada, data(TUESDAYS[0], farm.half, 1, farm.tuesday), None, TODAY, NOW)


def test_the_register_shows_the_terms_in_force_today(
    db, farm, make_user, auth, client, monkeypatch
):
    from csa.register import views as register_views

    ada = add_member(farm, name="Ada")
    svc.enter_change(ada, data(TUESDAYS[2], farm.half, 2, farm.thursday), None, TODAY, NOW)
    coord = make_user(Role.COORDINATOR)
    db.session.commit()
    auth.login(coord.email)
    monkeypatch.setattr(register_views, "farm_today", lambda: TUESDAYS[1])
    row = client.get(f"/register/members/{ada.member_id}").get_data(as_text=True)
    assert "Old Mill" in row
    assert "Town Hall" not in row
    monkeypatch.setattr(register_views, "farm_today", lambda: TUESDAYS[2])
    row = client.get(f"/register/members/{ada.member_id}").get_data(as_text=True)
    assert "Town Hall" in row
