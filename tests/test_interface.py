"""The interface around the pages: form markup, navigation per role, the season's chart,
locale formatting and one stylesheet of our own (no CDN)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from csa.models import Role, RoundStatus
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.lifecycle import season_harvest
from tests.factories import add_member, make_farm
from tests.test_rounds import NEXT_TUESDAY, TUESDAY, harvest, make_round

ROOT = Path(__file__).resolve().parent.parent
IN_SEASON = date(2027, 5, 20)


@pytest.fixture
def in_season(monkeypatch):
    monkeypatch.setattr(rounds_svc, "farm_today", lambda: IN_SEASON)


def _nav(html: str) -> list[str]:
    nav = html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


def test_form_fields_name_only_the_help_that_is_there(client):
    html = client.get("/auth/login").get_data(as_text=True)
    assert "None" not in html
    assert "aria-describedby" not in html
    html = client.post("/auth/login", data={"email": "", "password": ""}).get_data(as_text=True)
    assert 'aria-describedby="email-error" aria-invalid="true"' in html
    assert '<div class="error" id="email-error">' in html
    assert "None" not in html


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.MEMBER, ["My share"]),
        (Role.FARMER, ["Record harvest", "Rounds", "Calendar"]),
        (
            Role.COORDINATOR,
            [
                "Record harvest",
                "Rounds",
                "Calendar",
                "Register",
                "Sign-ups",
                "Money",
                "Community",
                "Farm setup",
            ],
        ),
        # Admin may open every page, but "My share" needs a household it does not have.
        (
            Role.ADMIN,
            [
                "Record harvest",
                "Rounds",
                "Calendar",
                "Register",
                "Sign-ups",
                "Money",
                "Community",
                "Farm setup",
                "Users",
            ],
        ),
    ],
    ids=lambda v: v.value if isinstance(v, Role) else "",
)
def test_navigation_offers_each_role_what_it_may_use(db, client, auth, make_user, role, expected):
    farm = make_farm()
    membership = add_member(farm)
    db.session.commit()
    user = make_user(role, member=membership.member if role == Role.MEMBER else None)
    auth.login(user.email)
    html = client.get("/calendar/" if role != Role.MEMBER else "/share/").get_data(as_text=True)
    assert _nav(html) == expected


def test_a_sub_page_marks_its_section_in_the_navigation(db, client, auth, make_user):
    farm = make_farm()
    add_member(farm)
    make_round(db)
    db.session.commit()
    auth.login(make_user(Role.FARMER).email)
    html = client.get(f"/rounds/{TUESDAY.isoformat()}").get_data(as_text=True)
    assert '<a href="/rounds/" aria-current="true">Rounds</a>' in html
    html = client.get("/rounds/").get_data(as_text=True)
    assert '<a href="/rounds/" aria-current="page">Rounds</a>' in html


def test_season_harvest_sums_per_crop_and_week_without_cancelled_rounds(db, in_season):
    farm = make_farm()
    add_member(farm)
    first, second = make_round(db), make_round(db, NEXT_TUESDAY)
    cancelled = make_round(db, date(2027, 5, 13))
    cancelled.status = RoundStatus.CANCELLED
    harvest(db, first, farm.tomatoes, 10_000)
    harvest(db, first, farm.tomatoes, 2_500)
    harvest(db, second, farm.pumpkins, 4_000)
    harvest(db, cancelled, farm.pumpkins, 9_000)
    data = season_harvest(farm.season, IN_SEASON)
    # The season starts on Saturday 1 May: its first week is the one of Monday 26 April.
    assert data.weeks[0] == date(2027, 4, 26)
    assert data.weeks[-1] == date(2027, 5, 17)
    assert [c.name for c in data.crops] == ["Pumpkins", "Tomatoes"]
    assert data.milli[farm.tomatoes.id] == [0, 12_500, 0, 0]
    assert data.milli[farm.pumpkins.id] == [0, 0, 4_000, 0]
    assert data.total(farm.tomatoes.id) == 12_500


def test_season_page_shows_the_chart_to_field_staff_only(db, client, auth, make_user, in_season):
    farm = make_farm()
    add_member(farm)
    harvest(db, make_round(db), farm.tomatoes, 12_500)
    db.session.commit()
    auth.login(make_user(Role.FARMER).email)
    response = client.get("/rounds/season")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<svg class="chart" id="season-chart"' in html
    assert 'role="img" aria-labelledby="season-chart-title season-chart-desc"' in html
    assert "Tomatoes, 3 May: 12.5 kg" in html
    assert '<td class="num">12.5 kg</td>' in html
    assert 'href="/rounds/season"' in client.get("/rounds/").get_data(as_text=True)
    auth.logout()
    member = add_member(farm)
    db.session.commit()
    auth.login(make_user(Role.MEMBER, member=member.member).email)
    assert client.get("/rounds/season").status_code == 403


def test_season_page_before_any_season(db, client, auth, make_user):
    auth.login(make_user(Role.FARMER).email)
    response = client.get("/rounds/season")
    assert response.status_code == 200
    assert "No season has begun yet." in response.get_data(as_text=True)


def test_opening_hours_follow_the_users_locale(db, client, auth, make_user, in_season):
    farm = make_farm()
    membership = add_member(farm)
    make_round(db, date(2027, 5, 25))
    db.session.commit()
    user = make_user(Role.MEMBER, member=membership.member)
    user.locale = "pl"
    db.session.commit()
    auth.login(user.email)
    html = client.get("/share/").get_data(as_text=True)
    assert "16:00–19:00" in html  # Polish: a 24-hour clock (English shows 4:00 PM)


def test_one_stylesheet_of_our_own_and_nothing_from_a_cdn():
    assert not (ROOT / "static" / "harvest.css").exists()
    templates = list((ROOT / "templates").rglob("*.html"))
    links = [
        m
        for t in templates
        for m in re.findall(r'(?:href|src)="(https?:)?//[^"]*"', t.read_text())
        if "/sheets/" not in str(t)
    ]
    assert links == []
    base = (ROOT / "templates" / "base.html").read_text()
    assert base.count('rel="stylesheet"') == 1
    for template in templates:
        if template.name != "base.html" and "sheets" not in template.parts:
            assert "stylesheet" not in template.read_text(), template.name
