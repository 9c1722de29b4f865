"""The app served for real and driven by headless Chromium, for the browser tests and
`python -m tools.screenshots`.

Both need the same setup: the production settings (CSRF on, real password hashing) on a
throwaway SQLite file with the demo farm, served from a thread on a free port, and Debian's
Chromium through Playwright (never a browser Playwright downloads itself). It lives here
once so the tests and the screenshots cannot drift apart. Playwright is a development
dependency: it is imported only when a browser is started.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

# Headless in a container: no sandbox (we run as root), no GPU, and nothing that phones home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
BROWSER_LOCALE = "en-GB"  # what the login page negotiates; signed-in users have their own


def chromium_path() -> str | None:
    """Debian's Chromium, or None when it is not installed."""
    return shutil.which("chromium")


def live_config(folder: Path) -> dict[str, Any]:
    """The real settings, not the unit tests' shortcuts, on files inside `folder`."""
    return {
        "SECRET_KEY": secrets.token_hex(32),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'csa.sqlite3'}",
        "OUTBOX_DIR": str(folder / "outbox"),
        "SHEETS_DIR": str(folder / "sheets"),
        "WTF_CSRF_ENABLED": True,
    }


@dataclass
class LiveApp:
    """A running app: the Flask object (for database checks) and the address it answers on."""

    app: Flask
    url: str


@contextmanager
def serve(folder: Path, demo: bool = True) -> Iterator[LiveApp]:
    """Serve the app from a thread on a free port, on a new SQLite file with the demo farm."""
    from csa import create_app
    from csa.demo import load_demo
    from csa.extensions import db

    folder.mkdir(parents=True, exist_ok=True)
    app = create_app(live_config(folder))
    with app.app_context():
        db.create_all()
        if demo:
            load_demo()
        db.session.commit()
    # One access-log line per request would bury a failing test's output.
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="csa-live-app", daemon=True)
    thread.start()
    try:
        yield LiveApp(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        access_log.setLevel(level)
        with app.app_context():
            db.engine.dispose()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Launch headless Chromium from Debian's package through Playwright."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError(
            "Chromium is not installed: apt-get install --no-install-recommends chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, base_url: str, phone: bool = False) -> Page:
    """A page in a fresh context (its own cookies): a phone held upright, or a desktop."""
    context = browser.new_context(
        base_url=base_url,
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=1,
        locale=BROWSER_LOCALE,
        timezone_id="Europe/Warsaw",
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def sign_in(page: Page, email: str, password: str | None = None) -> None:
    """Sign in through the login form and wait until the app has sent us on."""
    from csa.demo import DEMO_PASSWORD

    page.goto("/auth/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password or DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
