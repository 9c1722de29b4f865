"""The coordinator's journey on a desktop: import members from a spreadsheet (a bad file
first), check the sites' capacity, lock a round and find a member in its pickup list PDF."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import func, select

from csa.extensions import db
from csa.harvest import operations as harvest
from csa.jobs import run_due_jobs
from csa.models import (
    Allocation,
    HarvestEntry,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Round,
    RoundStatus,
)
from csa.register.queries import default_season, site_counts
from csa.rounds.lifecycle import farm_today
from csa.rounds.split import round_split
from csa.ui.formatting import format_quantity
from tests.browser.helpers import check_accessibility, save_screenshot

pytestmark = pytest.mark.browser

SITE = "Old Mill"  # the demo site with free places (the others are full or nearly)
HEADER = "name,email,phone,share_type,shares,site,season,start,end\n"
GOOD = "Ola Testowa,ola.testowa@example.org,+48 600 111 222,Full,1,Old Mill,Demo season,,\n"
NEWCOMER = "Jan Próbny,jan.probny@example.org,,Family,1,{site},Demo season,,\n"


def _upload(page: Page, text: str) -> None:
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.get_by_role("button", name="Import").click()


def _round_to_lock(app) -> tuple[int, date]:
    """The next open round at the site; given some harvest if the demo left it empty."""
    with app.app_context():
        site = db.session.scalar(select(PickupSite).where(PickupSite.name == SITE))
        round_ = next(
            r
            for r in db.session.scalars(
                select(Round)
                .where(Round.date >= farm_today(), Round.status == RoundStatus.OPEN)
                .order_by(Round.date)
            )
            if site.serves(r.schedule_date)
        )
        entries = db.session.scalar(
            select(func.count()).select_from(HarvestEntry).where(HarvestEntry.round_id == round_.id)
        )
        if not entries:
            harvest.record_harvest(round_, [("Potatoes", "40"), ("Kale", "25")], None)
            db.session.commit()
        return round_.id, round_.date


def _pdf_text(data: bytes) -> str:
    """All pages' text with every run of blanks (no-break spaces too) as one space."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_coordinator_imports_checks_capacity_locks_and_prints(live_app, open_page):
    round_id, round_date = _round_to_lock(live_app)
    page = open_page()
    page.goto("/auth/login")
    page.get_by_label("E-mail").fill("coordinator@demo.farm")
    page.get_by_label("Password", exact=True).fill("harvest-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Register")
    check_accessibility(page, "register")

    # A file with a bad line: every problem is listed and nothing is imported.
    page.get_by_role("link", name="Import CSV").click()
    check_accessibility(page, "register import")
    _upload(page, HEADER + GOOD + NEWCOMER.format(site="Old Mil"))
    problems = page.get_by_role("alert")
    expect(problems).to_contain_text("Line 3:")
    expect(problems).to_contain_text("Old Mil")
    expect(page.locator(".flash-error")).to_contain_text("nothing was imported")
    check_accessibility(page, "register import with problems")
    emails = ("ola.testowa@example.org", "jan.probny@example.org")
    with live_app.app_context():
        assert db.session.scalars(select(Member).where(Member.email.in_(emails))).all() == []

    # Fixed: both are imported, and the register says so.
    _upload(page, HEADER + GOOD + NEWCOMER.format(site=SITE))
    expect(page.locator(".flash-success")).to_contain_text(
        "Rows read: 2. Members created: 2, updated: 0. Memberships created: 2, updated: 0."
    )
    with live_app.app_context():
        imported = db.session.scalars(
            select(Membership).join(Member).where(Member.email.in_(emails))
        ).all()
        assert sorted((m.member.name, m.site.name, m.status) for m in imported) == [
            ("Jan Próbny", SITE, MembershipStatus.ACTIVE),
            ("Ola Testowa", SITE, MembershipStatus.ACTIVE),
        ]
        ola = next(m for m in imported if m.member.name == "Ola Testowa")
        ola_id = ola.id
        counts = {c.site.name: c for c in site_counts(default_season())}

    # Capacity per site, as the register page shows it: taken / places, full ones marked.
    for name, count in counts.items():
        stat = page.locator(".stat", has_text=name)
        expect(stat).to_contain_text(f"{count.taken} / {count.site.capacity}")
        if count.full:
            expect(stat).to_contain_text("full")
    assert counts[SITE].taken == 22
    assert not counts[SITE].full
    assert any(c.full for c in counts.values()), "the demo has a full site"

    # The calendar, then the round: lock it after a deliberate tick.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", name="Pickup calendar")).to_be_visible()
    check_accessibility(page, "calendar")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Rounds").click()
    page.get_by_role("link", name=re.compile(re.escape(_medium(live_app, round_date)))).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Round of")
    expect(page.locator("table.matrix")).to_contain_text("Ola Testowa")
    check_accessibility(page, "round page")
    page.get_by_text("Lock this round…").click()
    confirm = page.get_by_label("The harvest is complete: store the split and lock the round.")
    page.get_by_role("button", name="Lock round").click()  # not ticked: the browser refuses
    assert confirm.evaluate("box => box.validity.valueMissing")
    with live_app.app_context():
        assert db.session.get(Round, round_id).status == RoundStatus.OPEN
    confirm.check()
    page.get_by_role("button", name="Lock round").click()
    expect(page.locator(".flash-success")).to_have_text("The round is locked; its split is stored.")

    with live_app.test_request_context():
        round_ = db.session.get(Round, round_id)
        assert round_.status == RoundStatus.LOCKED
        stored = db.session.scalar(
            select(func.count()).select_from(Allocation).where(Allocation.membership_id == ola_id)
        )
        assert stored > 0
        split = round_split(round_)
        wanted = [
            f"{split.crops[s.crop_id].name} "
            f"{format_quantity(s.quantity, split.crops[s.crop_id].unit)}"
            for s in split.shares_of(ola_id)
            if s.quantity > 0
        ]
        # The scheduler makes the sheets of a locked round; run its jobs once, as it would.
        report = run_due_jobs()
        assert round_.date in report.notified
    assert wanted

    # The pickup list of the site, downloaded and read: the member and her quantities.
    page.reload()
    page.get_by_role("link", name="Pickup lists and posters (PDF)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sheets for")
    link = page.get_by_role("row", name=re.compile(SITE)).get_by_role(
        "link", name="Pickup list", exact=True
    )
    # Chromium shows a PDF inline rather than saving it: fetch the link with the session.
    response = page.request.get(link.get_attribute("href") or "")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    text = _pdf_text(response.body())
    assert "Ola Testowa" in text
    entry = text[text.index("Ola Testowa") :]
    entry = entry[: entry.find("☐", 1)] if "☐" in entry[1:] else entry
    for item in wanted:
        assert item in entry, (item, entry)
    save_screenshot(page, "journey-coordinator")


def _medium(app, day: date) -> str:
    from flask_babel import format_date

    with app.test_request_context():
        return str(format_date(day, "medium"))
