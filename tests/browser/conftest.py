"""Fixtures of the browser tests: the live app (tools.browser) and headless Chromium.

Under CI the browser tests must run: a missing Chromium fails them. Locally they are
skipped only when Chromium is not installed. SQLite only: the browser adds nothing the
PostgreSQL half of the unit tests does not cover already.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, Response

from tools.browser import LiveApp, chromium, chromium_path, new_page, serve


@pytest.fixture(scope="session")
def chromium_required() -> str:
    """Debian's Chromium: a missing one fails under CI and skips the test elsewhere."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (`make test` installs it with apt).")
        pytest.skip("Chromium is not installed (apt-get install chromium).")
    return path


@pytest.fixture(scope="session")
def browser(chromium_required: str) -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    """The app with the demo farm on a new SQLite file, CSRF on, served from a thread."""
    with serve(tmp_path / "live") as running:
        yield running


@pytest.fixture
def live_app(live: LiveApp) -> Flask:
    return live.app


@pytest.fixture
def open_page(browser: Browser, live: LiveApp) -> Iterator[Callable[..., Page]]:
    """Open pages on the live app; fail the test on a server error or a script error."""
    problems: list[str] = []
    pages: list[Page] = []

    def on_console(message: ConsoleMessage) -> None:
        # A 403 or 404 page the test asked for logs "Failed to load resource": expected.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 500:
            problems.append(f"{response.status} from {response.url}")

    def make(phone: bool = False) -> Page:
        page = new_page(browser, live.url, phone=phone)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", on_console)
        page.on("response", on_response)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.context.close()
    assert problems == []
