"""Messages in a browser: a coordinator writes to one pickup site (preview with the number
of households, then send), and a member of that site reads it on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import Member, Message, User
from tests.browser.helpers import check_accessibility, fits_the_screen
from tools.browser import sign_in

pytestmark = pytest.mark.browser

SUBJECT = "Gate closed on Tuesday"
BODY = "Use the side entrance <by the barn> & ring twice."


def test_coordinator_writes_to_a_site_and_a_member_reads_it(live_app, open_page):
    with live_app.app_context():
        member = db.session.scalar(select(User).where(User.email == "member@demo.farm")).member
        assert isinstance(member, Member)
        site = member.memberships[0].site.name
    page = open_page()
    sign_in(page, "coordinator@demo.farm")
    page.goto("/messages/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages")
    check_accessibility(page, "sent messages")
    page.get_by_role("link", name="Write a message").first.click()
    page.get_by_label("Write to").select_option("sites")
    page.get_by_label(site, exact=True).check()
    page.get_by_label("Subject", exact=True).fill(SUBJECT)
    page.get_by_label("Message", exact=True).fill(BODY)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".preview")).to_contain_text("will get it")
    expect(page.locator(".preview")).to_contain_text(BODY)
    check_accessibility(page, "message preview")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".flash-success")).to_contain_text("The message is on its way")
    with live_app.app_context():
        sent = db.session.scalar(select(Message).where(Message.subject == SUBJECT))
        assert sent is not None
        assert member.id in {r.member_id for r in sent.recipients}

    phone = open_page(phone=True)
    sign_in(phone, "member@demo.farm")
    phone.goto("/messages/inbox")
    check_accessibility(phone, "member's messages")
    assert fits_the_screen(phone)
    phone.get_by_role("link", name=SUBJECT).click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    expect(phone.locator(".message-body")).to_have_text(BODY)
