"""The waiting list in a browser: a coordinator reorders the list and sees the open offer;
the household opens its offer link on a phone, without a login, and accepts the place."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import MembershipStatus, PlaceOffer
from csa.waitlist.offers import token_of
from tests.browser.helpers import check_accessibility, fits_the_screen
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_coordinator_reorders_and_the_household_accepts(live_app, open_page):
    with live_app.app_context():
        offer = db.session.scalars(select(PlaceOffer)).one()
        link = f"/waitlist/offer/{token_of(offer)}"
        household = offer.membership.member.name
    page = open_page()
    sign_in(page, "coordinator@demo.farm")
    page.get_by_role("link", name="Register").click()
    page.get_by_role("link", name="Waiting list").click()
    expect(page.get_by_role("heading", name="Farm Gate")).to_be_visible()
    check_accessibility(page, "waiting list")
    page.get_by_role("button", name="Move Piet de Boer up").click()
    expect(page.locator(".flash-success")).to_contain_text("Piet de Boer is now at position 2.")

    phone = open_page(phone=True)
    phone.goto(link)
    expect(phone.get_by_role("heading", name="A place at Farm Gate")).to_be_visible()
    check_accessibility(phone, "offer of a place")
    assert fits_the_screen(phone)
    phone.get_by_role("button", name="Accept the place").click()
    expect(phone.locator(".flash-success")).to_contain_text("The place is yours")
    expect(phone.locator(".flash-warning")).to_contain_text("You accepted this offer already")
    with live_app.app_context():
        offer = db.session.scalars(select(PlaceOffer)).one()
        assert offer.membership.status == MembershipStatus.ACTIVE
    page.reload()
    expect(page.get_by_text(household)).to_have_count(1)  # now under "earlier offers"
