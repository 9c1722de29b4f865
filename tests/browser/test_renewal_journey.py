"""A member renews for the next season with a change: from My share one tap to Next season,
another share type chosen, the answer confirmed on the page and in the register; the page
passes axe-core, on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import Membership, Renewal, RenewalState, ShareType, User
from tests.browser.helpers import check_accessibility, fits_the_screen
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_a_member_renews_with_another_share_type(live_app, open_page):
    with live_app.app_context():
        user = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        user.locale = "en"  # the journey reads English text
        db.session.commit()
        renewal = db.session.scalar(
            select(Renewal)
            .join(Membership, Renewal.membership_id == Membership.id)
            .where(Membership.member_id == user.member_id)
        )
        assert renewal.state == RenewalState.INVITED
        other = db.session.scalar(
            select(ShareType).where(ShareType.id != renewal.share_type_id).order_by(ShareType.id)
        )
        other_name, renewal_id, season_name = other.name, renewal.id, renewal.next_season.name

    page = open_page(phone=True)
    sign_in(page, "member@demo.farm")
    page.goto("/share/")
    page.get_by_role("navigation", name="Sections of my share").get_by_role(
        "link", name="Next season"
    ).click()
    expect(page).to_have_url(re.compile(r"/renewal/$"))
    expect(page.get_by_role("heading", name=re.compile(season_name))).to_be_visible()
    check_accessibility(page, "next season")
    assert fits_the_screen(page)

    page.get_by_text("Renew with a change").click()
    page.get_by_label("Share type").select_option(label=other_name)
    page.get_by_role("button", name="Renew with these choices").click()
    expect(page.locator(".flash-success")).to_contain_text(f"× {other_name}")
    expect(page.locator("#renewal-confirmed")).to_contain_text(other_name)
    expect(page.locator(".renewal-state")).to_contain_text("accepted with changes")
    check_accessibility(page, "next season answered")

    with live_app.app_context():
        renewal = db.session.get(Renewal, renewal_id)
        assert renewal.state == RenewalState.CHANGED
        assert renewal.new_membership is not None
        assert renewal.new_membership.share_type.name == other_name
