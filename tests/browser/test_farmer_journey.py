"""The farmer's journey on a phone: sign in, record today's harvest, watch the preview,
save, and correct a line before the round locks."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import Crop, HarvestEntry, User
from csa.rounds.lifecycle import farm_today, next_open_round
from tests.browser.helpers import check_accessibility, fits_the_screen, save_screenshot

pytestmark = pytest.mark.browser

# crop, what the farmer types, what it must be stored as (thousandths of the unit)
LINES = [
    ("Tomatoes", "12,5", 12_500),  # a decimal comma, as typed in Poland
    ("Cucumbers", "40", 40_000),  # counted in pieces
    ("Kale", "18", 18_000),  # bunches
]


def _line(page: Page, index: int, crop: str, quantity: str) -> None:
    option = page.locator(f"#lines-{index}-crop option", has_text=re.compile(rf"^{crop} \("))
    page.locator(f"#lines-{index}-crop").select_option(option.get_attribute("value"))
    page.locator(f"#lines-{index}-quantity").fill(quantity)


def test_farmer_records_and_corrects_the_harvest_on_a_phone(live_app, open_page):
    page = open_page(phone=True)
    page.goto("/auth/login")
    check_accessibility(page, "login")
    page.get_by_label("E-mail").fill("farmer@demo.farm")
    page.get_by_label("Password", exact=True).fill("harvest-demo")
    page.get_by_role("button", name="Sign in").click()

    # The farmer lands on the harvest form, set to the next open round.
    expect(page).to_have_url(re.compile(r"/harvest/"))
    expect(page.get_by_role("heading", name="Record harvest")).to_be_visible()
    with live_app.app_context():
        round_ = next_open_round(farm_today())
        assert round_ is not None
        round_id = round_.id
        before = {e.id for e in db.session.scalars(select(HarvestEntry))}
    expect(page.get_by_label("Round")).to_have_value(str(round_id))
    check_accessibility(page, "harvest form")
    assert fits_the_screen(page)

    # The preview follows what is typed, before anything is saved.
    preview = page.locator("#preview")
    _line(page, 0, *LINES[0][:2])
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("12.5 kg typed")
    expect(preview).to_contain_text("Full share")
    expect(preview).not_to_contain_text("pc typed")
    _line(page, 1, *LINES[1][:2])
    expect(preview).to_contain_text("40 pc typed")
    _line(page, 2, *LINES[2][:2])
    expect(preview).to_contain_text("18 bunch typed")

    page.get_by_role("button", name="Record harvest").click()
    flash = page.locator(".flash-success")
    expect(flash).to_contain_text("Tomatoes 12.5 kg")
    expect(flash).to_contain_text("Cucumbers 40 pc")
    expect(flash).to_contain_text("Kale 18 bunch")

    with live_app.app_context():
        farmer = db.session.scalar(select(User).where(User.email == "farmer@demo.farm"))
        added = [e for e in db.session.scalars(select(HarvestEntry)) if e.id not in before]
        got = sorted((e.crop.name, e.quantity_milli, e.round_id, e.recorded_by_id) for e in added)
        tomatoes = next(e.id for e in added if e.crop.name == "Tomatoes")
    assert got == sorted((name, milli, round_id, farmer.id) for name, _typed, milli in LINES)

    # Correct one line on the round's entries page.
    page.get_by_role("link", name=re.compile(r"^Entries of ")).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Harvest of "))).to_be_visible()
    entry = page.locator(f"#entry-{tomatoes}")
    entry.get_by_label("Quantity of Tomatoes").fill("13,25")
    entry.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success")).to_have_text("Tomatoes corrected: 12.5 kg → 13.25 kg.")
    expect(page.locator(f"#entry-{tomatoes} .entry-what")).to_contain_text("13.25 kg")
    assert fits_the_screen(page)

    with live_app.app_context():
        corrected = db.session.get(HarvestEntry, tomatoes)
        assert corrected is not None
        assert corrected.quantity_milli == 13_250
        crop = db.session.scalar(select(Crop).where(Crop.name == "Tomatoes"))
        assert corrected.crop_id == crop.id
    save_screenshot(page, "journey-farmer")
