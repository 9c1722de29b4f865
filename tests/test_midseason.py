"""A member who joins mid-season: the page starts where the membership's share starts.

Reproduced first, on main: a household entered after ten locked rounds saw "Nothing
recorded yet" beside "Locked: this is what you collect" for a round packed before it
joined, "No locked rounds yet this season" while ten were locked, and, when its start was
left at the season's first day, ten past rounds of "nothing".
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from csa.models import Role
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.lifecycle import lock_round
from tests.factories import add_member, make_farm
from tests.test_rounds import harvest, make_round

FIRST = date(2027, 5, 4)  # a Tuesday, the season's first round
ROUNDS = [FIRST + timedelta(weeks=i) for i in range(13)]
TODAY = ROUNDS[10]  # 13 July: the 11th round, locked this morning


def section(html: str, anchor: str) -> str:
    part = html[html.index(anchor) :]
    return part[: part.index("</section>")]


def build(db, monkeypatch, make_user, auth, start: date | None, locked: int):
    """Ten (or eleven) locked rounds with shares; then a household joins and signs in."""
    farm = make_farm()
    add_member(farm, name="Olga Early")
    rounds = []
    for day in ROUNDS:
        r = make_round(db, day)
        harvest(db, r, farm.tomatoes, 2_000)
        rounds.append(r)
    db.session.flush()
    for r in rounds[:locked]:
        assert lock_round(r)
    late = add_member(farm, name="Nina Late")
    if start is not None:
        late.start = start
    db.session.commit()
    monkeypatch.setattr(rounds_svc, "farm_today", lambda: TODAY)
    user = make_user(Role.MEMBER, member=late.member)
    auth.login(user.email)
    return late, rounds


@pytest.fixture
def joined_today(db, monkeypatch, make_user, auth):
    """Starts on the 11th round's day, entered after that round locked."""
    return build(db, monkeypatch, make_user, auth, start=TODAY, locked=11)


@pytest.fixture
def start_left_at_season(db, monkeypatch, make_user, auth):
    """Entered after ten rounds locked, its start left at the season's first day."""
    return build(db, monkeypatch, make_user, auth, start=None, locked=10)


def test_the_round_packed_before_joining_is_not_this_round(client, joined_today):
    html = client.get("/share/").get_data(as_text=True)
    this = section(html, 'aria-labelledby="this-round"')
    # Before: "Nothing recorded yet" and "Locked: this is what you collect" together.
    assert not ("Nothing recorded yet" in this and "Locked: this is what you collect" in this)
    assert "Your first round: Tuesday, July 20, 2027" in this
    assert "was packed before your membership began" in this
    assert "Locked: this is what you collect" not in this


def test_the_season_counts_from_the_start(client, joined_today):
    html = client.get("/share/season").get_data(as_text=True)
    season = section(html, 'aria-labelledby="season"')
    # Before: "No locked rounds yet this season." while eleven were locked.
    assert "No locked rounds yet this season." not in season
    assert "Counted from July 20, 2027, when your share began." in season
    assert "No round was packed for you yet" in season


def test_no_past_rounds_before_the_start(client, start_left_at_season):
    late, rounds = start_left_at_season
    html = client.get("/share/season").get_data(as_text=True)
    past = section(html, 'aria-labelledby="past-rounds"')
    # Before: ten past rounds of "nothing".
    assert "nothing" not in past
    assert "No past rounds yet." in past
    assert "No locked rounds yet this season." not in html
    assert "Counted from July 13, 2027" in html
    this = section(client.get("/share/").get_data(as_text=True), 'aria-labelledby="this-round"')
    assert "This round: Tuesday, July 13, 2027" in this  # open: its first share


def test_after_its_first_round_locks_it_counts_from_there(client, db, start_left_at_season):
    late, rounds = start_left_at_season
    assert lock_round(rounds[10])
    db.session.commit()
    html = client.get("/share/season").get_data(as_text=True)
    past = section(html, 'aria-labelledby="past-rounds"')
    assert "nothing" not in past
    assert "No past rounds yet." in past  # today's round is not past yet
    season = section(html, 'aria-labelledby="season"')
    assert "You received" in season
    assert "Tomatoes" in season
    this = section(client.get("/share/").get_data(as_text=True), 'aria-labelledby="this-round"')
    assert "Locked: this is what you collect." in this
    assert "Nothing" not in this


def test_a_member_from_the_first_day_sees_every_round(client, db, monkeypatch, make_user, auth):
    """The usual case stays as it was: every past round, the season from its first day."""
    late, rounds = build(db, monkeypatch, make_user, auth, start=None, locked=0)
    for r in rounds[:10]:
        assert lock_round(r)
    db.session.commit()
    html = client.get("/share/season").get_data(as_text=True)
    past = section(html, 'aria-labelledby="past-rounds"')
    assert past.count("<li>") == 10
    assert "Counted from" not in html
