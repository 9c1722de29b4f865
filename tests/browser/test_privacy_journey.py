"""Their data, in a browser: the demo member downloads its household's zip and sees its
open deletion request; a coordinator refuses it with a reason the member then reads, and
the demo's anonymised household is in the audit."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import User
from tests.browser.helpers import check_accessibility, fits_the_screen, save_screenshot
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_a_member_downloads_its_data_and_reads_the_answer_to_its_request(live_app, open_page):
    with live_app.app_context():
        member = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        member.locale = "en"  # the journey reads English text
        household = member.member.name
        db.session.commit()
    page = open_page(phone=True)
    sign_in(page, "member@demo.farm")
    page.goto("/account/")
    page.get_by_role("navigation", name="Sections of my account").get_by_role(
        "link", name="Your data"
    ).click()
    expect(page).to_have_url(re.compile(r"/privacy/$"))
    expect(page.get_by_text("the farm has not answered yet")).to_be_visible()
    check_accessibility(page, "your data")
    assert fits_the_screen(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download (zip)").click()
    path = info.value.path()
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        document = json.loads(archive.read("household.json"))
    assert {"README.txt", "household.json", "allocations.csv", "emails.csv"} <= names
    assert document["data"]["household"][0]["name"] == household
    assert document["data"]["allocations"]

    staff = open_page()
    sign_in(staff, "coordinator@demo.farm")
    staff.goto("/register/")
    staff.get_by_role("link", name="Households' data").click()
    expect(staff).to_have_url(re.compile(r"/privacy/requests$"))
    expect(staff.get_by_role("heading", name=household)).to_be_visible()
    expect(staff.get_by_role("cell", name="anonymised", exact=True)).to_be_visible()
    check_accessibility(staff, "households' data")
    save_screenshot(staff, "journey-privacy-coordinator")
    staff.get_by_label("Why not (the household reads it)").fill(
        "Your share runs until the end of the season."
    )
    staff.get_by_role("button", name="Refuse the request").click()
    expect(staff.locator(".flash-success")).to_contain_text("the household is told why")

    page.reload()
    expect(page.get_by_text("Your share runs until the end of the season.")).to_be_visible()
    expect(page.get_by_role("button", name="Ask the farm to delete our data")).to_be_visible()
    save_screenshot(page, "journey-privacy-member")
