"""A newcomer's language and a member's account on a phone: the switch at the foot of the
login page, kept after signing in; the profile, and a password change that keeps this
browser signed in while another one is signed out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.demo import DEMO_PASSWORD
from csa.extensions import db
from csa.models import User
from tests.browser.helpers import check_accessibility, fits_the_screen
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_the_language_picked_before_signing_in_stays(live_app, open_page):
    with live_app.app_context():
        farmer = db.session.scalar(select(User).where(User.email == "farmer@demo.farm"))
        farmer.locale = ""  # nobody chose yet
        db.session.commit()
    page = open_page(phone=True)
    page.goto("/auth/login")
    page.get_by_label("Language").select_option("pl")
    page.get_by_role("button", name="Use this language").click()
    expect(page.locator("html")).to_have_attribute("lang", "pl")
    expect(page.get_by_role("button", name="Zaloguj się")).to_be_visible()
    check_accessibility(page, "login in Polish")
    page.get_by_label("E-mail").fill("farmer@demo.farm")
    page.get_by_label("Hasło", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Zaloguj się").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    expect(page.get_by_role("button", name="Wyloguj się")).to_be_visible()
    with live_app.app_context():
        farmer = db.session.scalar(select(User).where(User.email == "farmer@demo.farm"))
        assert farmer.locale == "pl"


def test_a_member_edits_the_profile_and_changes_the_password(live_app, open_page):
    with live_app.app_context():
        member = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        member.locale = "en"  # the journey reads English text
        db.session.commit()
    elsewhere = open_page()
    sign_in(elsewhere, "member@demo.farm")
    page = open_page(phone=True)
    sign_in(page, "member@demo.farm")
    page.goto("/share/")
    page.locator("header a.who").click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    check_accessibility(page, "my account")
    assert fits_the_screen(page)
    page.get_by_label("Phone").fill("+48 600 700 800")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success")).to_contain_text("Your profile is saved.")

    page.get_by_role("navigation", name="Sections of my account").get_by_role(
        "link", name="Password"
    ).click()
    expect(page).to_have_url(re.compile(r"/account/password$"))
    page.get_by_label("Current password").fill(DEMO_PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-new-harvest-pass")
    page.get_by_label("Repeat the new password").fill("a-new-harvest-pass")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flash-success")).to_contain_text("every other session")
    page.goto("/share/")
    expect(page).to_have_url(re.compile(r"/share/$"))  # still signed in here
    elsewhere.goto("/share/")
    expect(elsewhere).to_have_url(re.compile(r"/auth/login"))  # signed out there
    with live_app.app_context():
        member = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        assert member.check_password("a-new-harvest-pass")
        assert member.phone == "+48 600 700 800"
