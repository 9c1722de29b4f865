"""The pages around the journeys: keyboard use with a visible focus, the calendar and the
season's chart on a farmer's phone, each checked with axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import Allocation, Membership, Round, RoundStatus
from tests.browser.helpers import check_accessibility, fits_the_screen, save_screenshot
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_sign_in_with_the_keyboard_alone_shows_where_the_focus_is(open_page):
    page = open_page()
    page.goto("/auth/login")
    expect(page.get_by_label("E-mail")).to_be_focused()  # autofocus: type at once
    page.keyboard.type("coordinator@demo.farm")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type("harvest-demo")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Keep me signed in")).to_be_focused()
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_focused()
    ring = button.evaluate(
        "b => { const s = getComputedStyle(b); return [s.outlineStyle, s.boxShadow]; }"
    )
    assert ring[0] == "solid"
    assert ring[1] != "none"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/register/$"))

    # The first Tab on a page reaches the skip link, which jumps past the navigation.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()


def test_calendar_and_season_chart_on_a_farmers_phone(open_page):
    page = open_page(phone=True)
    sign_in(page, "farmer@demo.farm")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", name="Pickup calendar")).to_be_visible()
    # On a phone each round is a card of labelled lines, not a table wider than the screen.
    first = page.locator("table.calendar tbody tr").first
    expect(first.locator("td[data-label=Status]")).to_be_visible()
    assert fits_the_screen(page)
    check_accessibility(page, "calendar on a phone")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Rounds").click()
    page.get_by_role("link", name="Harvest of the season, week by week").click()
    chart = page.get_by_role("img", name="Harvest per crop and week")
    expect(chart).to_be_visible()
    expect(chart.locator("rect").first).to_be_attached()
    expect(page.get_by_role("table")).to_contain_text("Tomatoes")
    assert fits_the_screen(page)
    check_accessibility(page, "season chart")
    save_screenshot(page, "farmer-season-chart")


def _past_round(app):
    """A distributed round of the demo (every crop, stored split) and a member in it."""
    with app.app_context():
        round_ = db.session.scalars(
            select(Round).where(Round.status == RoundStatus.DISTRIBUTED).order_by(Round.date.desc())
        ).first()
        allocation = db.session.scalars(
            select(Allocation).where(Allocation.round_id == round_.id)
        ).first()
        membership = db.session.get(Membership, allocation.membership_id)
        return round_.id, round_.date.isoformat(), membership.id, membership.member_id


def test_more_staff_pages_pass_axe(live_app, open_page):
    round_id, day, membership_id, member_id = _past_round(live_app)
    page = open_page()
    sign_in(page, "coordinator@demo.farm")
    for name, url in (
        ("rounds", "/rounds/"),
        ("past round", f"/rounds/{day}"),
        ("explain", f"/rounds/{day}/explain/{membership_id}"),
        ("harvest entries", f"/harvest/round/{round_id}"),
        ("harvest audit", f"/harvest/round/{round_id}/audit"),
        ("member's share", f"/share/member/{member_id}"),
        ("member's round", f"/share/round/{day}?membership={membership_id}"),
        ("register member", f"/register/members/{member_id}"),
        ("sheets", f"/sheets/{day}"),
        ("sent messages", "/calendar/messages"),
        ("not found", "/rounds/1999-01-01"),
    ):
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        check_accessibility(page, name)
