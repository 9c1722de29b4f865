"""Screens for the README: `python -m tools.screenshots [--out docs/screenshots]`.

Serves the app on a temporary SQLite file with the demo farm and drives headless Chromium,
the same setup as the browser tests (tools.browser), then saves small PNGs of the main screens.
A pickup list is made the way the scheduler makes it when a round locks, and its first page
turned into an image by poppler's pdftoppm. Screens are viewport-sized, never whole long
pages, so each file stays well under 200 KB.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from csa.extensions import db
from csa.models import PickupSite, Round, RoundStatus
from tools.browser import LiveApp, chromium, chromium_path, new_page, serve, sign_in

if TYPE_CHECKING:  # Playwright is a development dependency, imported when a browser starts
    from playwright.sync_api import Browser, Page

DEFAULT_OUT = Path("docs/screenshots")
SHOWCASE_SITE = "Old Mill"  # the demo member's site


def harvest_form(browser: Browser, live: LiveApp, out: Path) -> Path:
    """The farmer's form on a phone, two crops typed, with the live preview below."""
    page = new_page(browser, live.url, phone=True)
    try:
        sign_in(page, "farmer@demo.farm")
        for index, (crop, quantity) in enumerate((("Tomatoes", "12,5"), ("Cucumbers", "40"))):
            option = page.locator(
                f"#lines-{index}-crop option", has_text=re.compile(rf"^{crop} \(")
            )
            page.locator(f"#lines-{index}-crop").select_option(option.get_attribute("value"))
            page.locator(f"#lines-{index}-quantity").fill(quantity)
        page.locator("#preview").get_by_text("40 pc typed").wait_for()
        page.locator("#lines-1-quantity").blur()
        return _shot(page, out / "harvest-form-phone.png")
    finally:
        page.context.close()


def my_share(browser: Browser, live: LiveApp, out: Path) -> Path:
    """What a member sees first on a phone: this week's share, where and when."""
    page = new_page(browser, live.url, phone=True)
    try:
        sign_in(page, "member@demo.farm")
        page.get_by_role("heading", name="My share").wait_for()
        return _shot(page, out / "my-share-phone.png")
    finally:
        page.context.close()


def season_so_far(browser: Browser, live: LiveApp, out: Path) -> Path:
    """The member's season chart: received against the fair share, crop by crop."""
    page = new_page(browser, live.url, phone=True)
    try:
        sign_in(page, "member@demo.farm")
        page.goto(f"{live.url}/share/season")
        page.get_by_role("heading", name="Season so far").wait_for()
        return _shot(page, out / "season-so-far-phone.png")
    finally:
        page.context.close()


def round_page(browser: Browser, live: LiveApp, out: Path) -> Path:
    """The coordinator's round page: every member's share of every crop, by site."""
    page = new_page(browser, live.url)
    try:
        sign_in(page, "coordinator@demo.farm")
        with live.app.app_context():
            day = db.session.scalar(
                select(Round.date)
                .where(Round.status == RoundStatus.OPEN)
                .join(Round.harvests)
                .order_by(Round.date)
                .limit(1)
            )
        page.goto(f"/rounds/{day.isoformat() if day else ''}")
        page.get_by_role("heading", name="Shares").wait_for()
        return _shot(page, out / "round-page.png")
    finally:
        page.context.close()


def season_chart(browser: Browser, live: LiveApp, out: Path) -> Path:
    """The season's harvest per crop and week, for farmers and coordinators."""
    page = new_page(browser, live.url)
    try:
        sign_in(page, "farmer@demo.farm")
        page.goto("/rounds/season")
        page.get_by_role("img", name="Harvest per crop and week").wait_for()
        return _shot(page, out / "season-chart.png")
    finally:
        page.context.close()


def pickup_list(live: LiveApp, out: Path, work: Path) -> Path:
    """Page one of a pickup list, made as the scheduler makes it for a locked round."""
    from csa.sheets.build import find_sheet, render_round_sheets

    with live.app.app_context():
        site = db.session.scalar(select(PickupSite).where(PickupSite.name == SHOWCASE_SITE))
        rounds = db.session.scalars(
            select(Round).where(Round.status == RoundStatus.DISTRIBUTED).order_by(Round.date.desc())
        )
        round_ = next(r for r in rounds if site is not None and site.serves(r.schedule_date))
        render_round_sheets(round_, force=True)
        db.session.commit()
        pdf = find_sheet(round_, "pickup", site.id if site else None)
    if pdf is None:
        raise RuntimeError("the pickup list was not made")
    target = out / "pickup-list.png"
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise RuntimeError("pdftoppm is missing: apt-get install poppler-utils")
    prefix = work / "pickup-list"
    subprocess.run(  # noqa: S603 - a fixed program and our own file names
        [pdftoppm, "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
        check=True,
    )
    shutil.move(str(prefix.with_suffix(".png")), target)
    return target


def _shot(page: Page, path: Path) -> Path:
    """A screenshot of what is on the screen (not the whole page): small files."""
    page.screenshot(path=str(path))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.screenshots", description="Write the README's screenshots."
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs")
    args = parser.parse_args(argv)
    if chromium_path() is None:
        print("Chromium is not installed: apt-get install chromium", file=sys.stderr)
        return 1
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="csa-screens-") as tmp:
        work = Path(tmp)
        with serve(work / "app") as live, chromium() as browser:
            written = [
                harvest_form(browser, live, out),
                my_share(browser, live, out),
                season_so_far(browser, live, out),
                round_page(browser, live, out),
                season_chart(browser, live, out),
                pickup_list(live, out, work),
            ]
    for path in written:
        print(f"{path}  {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
