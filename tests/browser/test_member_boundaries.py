"""A member typing addresses by hand: other households answer 404, staff pages 403, both as
friendly pages; the navigation offers only what the member may use."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import Membership, Round, RoundStatus, User
from tests.browser.helpers import check_accessibility, save_screenshot, status_of

pytestmark = pytest.mark.browser


def _ids(app):
    """The member's own membership, a neighbour's at the same site, and a locked round there."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        own = db.session.scalar(select(Membership).where(Membership.member_id == user.member_id))
        other = db.session.scalar(
            select(Membership)
            .where(Membership.site_id == own.site_id, Membership.member_id != own.member_id)
            .order_by(Membership.id)
            .limit(1)
        )
        locked = [
            r
            for r in db.session.scalars(
                select(Round)
                .where(Round.status == RoundStatus.DISTRIBUTED)
                .order_by(Round.date.desc())
            )
            if own.site.serves(r.schedule_date)
        ][0]
        return own.id, other.id, other.member_id, locked.date.isoformat()


def test_a_member_cannot_reach_other_households_or_staff_pages(live_app, open_page):
    own, other, other_member, day = _ids(live_app)
    page = open_page(phone=True)

    # Signed out, a private page sends to the login, and back after it.
    page.goto("/share/round/" + day)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("E-mail").fill("member@demo.farm")
    page.get_by_label("Password", exact=True).fill("harvest-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/share/round/{day}$"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["My share"])

    # The control: the member's own share of that round opens.
    assert status_of(page, f"/share/round/{day}?membership={own}") == 200

    for url in (
        f"/share/round/{day}?membership={other}",
        f"/rounds/{day}/explain/{other}",
        "/share/round/1999-01-01",
    ):
        assert status_of(page, url) == 404, url
        expect(page.get_by_role("heading", level=1)).to_have_text("Nothing here")
        expect(page.locator("main")).not_to_contain_text("Traceback")

    for url in (
        f"/share/member/{other_member}",
        "/register/",
        "/register/import",
        "/register/users",
        "/rounds/",
        f"/rounds/{day}",
        f"/rounds/{day}/export.csv",
        "/harvest/",
        "/calendar/",
        "/calendar/messages",
        f"/sheets/{day}",
    ):
        assert status_of(page, url) == 403, url
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "This page is not for your account"
        )
        expect(page.get_by_role("link", name="Back to the start")).to_be_visible()

    check_accessibility(page, "403 page")
    save_screenshot(page, "journey-member-boundaries")
