"""A household with two logins (issue 11, co-members): the contact reads the site in English,
its partner in Polish, both see the household's one share; the contact invites a co-member
from My account > Household, and the partner sees the list without the forms."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import OutboxMessage, User
from tests.browser.helpers import check_accessibility, fits_the_screen
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_a_co_member_reads_the_households_share_in_its_own_language(live_app, open_page):
    with live_app.app_context():
        contact = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        contact.locale = "en"  # the contact reads English; partner@demo.farm has Polish
        assert contact.member is not None
        site = contact.member.memberships[0].site.name
        household_id = contact.member_id
        db.session.commit()

    mine = open_page()
    sign_in(mine, "member@demo.farm")
    mine.goto("/share/")
    expect(mine.locator("html")).to_have_attribute("lang", "en")
    expect(mine.get_by_role("heading", level=1)).to_have_text("My share")
    expect(mine.locator("main")).to_contain_text(site)

    partner = open_page(phone=True)
    # The login page is English (the browser's language); the partner's own choice wins
    # once signed in.
    sign_in(partner, "partner@demo.farm")
    partner.goto("/share/")
    expect(partner.locator("html")).to_have_attribute("lang", "pl")
    expect(partner.get_by_role("heading", level=1)).to_have_text("Mój udział")
    expect(partner.locator("main")).to_contain_text(site)  # the same household's share
    check_accessibility(partner, "co-member share in Polish")
    assert fits_the_screen(partner)

    # The partner sees the household's logins, without the contact's forms.
    partner.goto("/account/household")
    expect(partner.locator("main")).to_contain_text("member@demo.farm")
    expect(partner.get_by_role("button", name="Zaproś")).to_have_count(0)
    expect(partner.get_by_role("button", name="Opuść gospodarstwo domowe")).to_be_visible()
    check_accessibility(partner, "household page of a co-member")

    # The contact invites a flatmate from My account > Household.
    mine.goto("/account/")
    mine.get_by_role("navigation", name="Sections of my account").get_by_role(
        "link", name="Household"
    ).click()
    expect(mine).to_have_url(re.compile(r"/account/household$"))
    expect(mine.locator("main")).to_contain_text("partner@demo.farm")
    check_accessibility(mine, "household page of the contact")
    mine.get_by_label("Name").fill("Ewa Flatmate")
    mine.get_by_label("E-mail").fill("ewa@example.org")
    mine.get_by_role("button", name="Invite", exact=True).click()
    expect(mine.locator(".flash-success")).to_contain_text("ewa@example.org")
    expect(mine.locator("main")).to_contain_text("invited, no password yet")
    check_accessibility(mine, "household page after an invitation")
    with live_app.app_context():
        ewa = db.session.scalar(select(User).where(User.email == "ewa@example.org"))
        assert ewa is not None
        assert ewa.member_id == household_id
        sent = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to == ewa.email))
        assert sent is not None
        assert "/auth/set-password/" not in sent.body  # sealed

    # The contact removes the partner (the browser asks first): its session ends.
    mine.once("dialog", lambda dialog: dialog.accept())
    mine.get_by_role("button", name=re.compile(r"^Remove Tomasz")).click()
    expect(mine.locator(".flash-success")).to_contain_text("no longer a login")
    partner.goto("/share/")
    expect(partner).to_have_url(re.compile(r"/auth/login"))
