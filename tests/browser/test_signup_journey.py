"""A newcomer's journey (issue 11): from the login page to the sign-up form, the confirmation
link from the mail, a coordinator's approval, the password from the invitation, and the
share page with the first round."""

from __future__ import annotations

import re
import time

import pytest
from flask_babel import format_date
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import OutboxMessage, PickupSite, Round, RoundStatus, SignupRequest, SignupState
from csa.notices import mail
from csa.rounds.lifecycle import farm_today
from tests.browser.helpers import check_accessibility, fits_the_screen, save_screenshot
from tools.browser import sign_in

pytestmark = pytest.mark.browser

EMAIL = "nina.newcomer@example.net"


def _link_in_mail(app, key_prefix: str, path: str) -> str:
    """The link of the newest queued mail with that key: what the newcomer clicks."""
    for _ in range(100):  # the sign-up is recorded just after its answer has gone
        with app.app_context():
            row = db.session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.key.startswith(key_prefix), OutboxMessage.to == EMAIL)
                .order_by(OutboxMessage.id.desc())
            )
            if row is not None:
                break
        time.sleep(0.1)
    with app.app_context():
        assert row is not None, key_prefix
        assert row.sealed is not None  # the link is never stored readable
        assert path not in row.body
        match = re.search(
            r"https?://[^/\s]+(" + re.escape(path) + r"[\w.\-]+)", mail.unseal(row.sealed)
        )
        assert match, row.body
        return match.group(1)


def _first_round(app) -> str:
    """The date of the next round at Old Mill, as the share page writes it."""
    with app.test_request_context():
        site = db.session.scalar(select(PickupSite).where(PickupSite.name == "Old Mill"))
        today = farm_today()
        for round_ in db.session.scalars(
            select(Round)
            .where(Round.date >= today, Round.status != RoundStatus.CANCELLED)
            .order_by(Round.date)
        ):
            if site.serves(round_.schedule_date):
                return format_date(round_.date, "full")
    raise AssertionError("no round ahead at Old Mill")


def test_a_newcomer_signs_up_is_approved_and_sees_the_first_round(live_app, open_page):
    page = open_page(phone=True)
    page.goto("/auth/login")
    page.get_by_role("link", name="Sign up for a share").click()
    expect(page).to_have_url(re.compile(r"/join/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sign up for a share")
    check_accessibility(page, "sign-up page")
    save_screenshot(page, "signup-join")
    assert fits_the_screen(page)

    page.get_by_label("Name", exact=True).fill("Nina Newcomer")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Phone").fill("+48 600 999 000")
    page.get_by_label("Address", exact=True).fill("Polna 1, Kraków")
    page.get_by_label("Language of the farm's messages to you").select_option("en")
    page.get_by_label("Season", exact=True).select_option(label="Demo season")
    page.get_by_label("Share type", exact=True).select_option(index=1)
    page.get_by_label("Number of shares").fill("1")
    old_mill = page.locator("#site option", has_text="Old Mill").get_attribute("value")
    page.get_by_label("Pickup site", exact=True).select_option(old_mill)
    page.get_by_label("I accept the farm's contract terms above").check()
    page.get_by_label("I agree that the farm keeps these details").check()
    # The trap is there for screen readers (labelled "leave empty") but takes no room on screen.
    expect(page.get_by_label("Leave this field empty")).to_have_value("")
    trap = page.locator(".trap").bounding_box()
    assert trap is not None
    assert trap["width"] <= 1
    assert trap["height"] <= 1
    page.wait_for_timeout(3200)  # a person takes longer than the minimum fill time
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    link = _link_in_mail(live_app, "signup/confirm/", "/join/confirm/")
    with live_app.app_context():
        signup = db.session.scalar(select(SignupRequest).where(SignupRequest.email == EMAIL))
        assert signup is not None
        assert signup.state == SignupState.UNCONFIRMED

    page.goto(link)
    page.get_by_role("button", name="Confirm my sign-up").click()
    expect(page.get_by_role("heading", name="Your sign-up is confirmed")).to_be_visible()

    coordinator = open_page()
    sign_in(coordinator, "coordinator@demo.farm")
    coordinator.goto("/signup/requests")
    check_accessibility(coordinator, "sign-up requests")
    row = coordinator.get_by_role("row").filter(has_text="Nina Newcomer")
    row.get_by_role("button", name="Approve").click()
    expect(coordinator.locator(".flash-success")).to_contain_text("Nina Newcomer is approved")

    page.goto(_link_in_mail(live_app, "invite/", "/auth/set-password/"))
    page.get_by_label("New password").fill("a-newcomer-password")
    page.get_by_label("Repeat the password").fill("a-newcomer-password")
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url(lambda url: "/set-password/" not in url)
    page.goto("/share/")
    expect(page).to_have_url(re.compile(r"/share/$"))
    expect(page.get_by_text("Old Mill").first).to_be_visible()
    expect(page.get_by_text(_first_round(live_app)).first).to_be_visible()
    save_screenshot(page, "signup-first-round")
