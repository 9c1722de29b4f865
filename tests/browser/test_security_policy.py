"""The Content-Security-Policy (csa/ui/headers.py) holds in Chromium: the main pages of every
role load without one violation, and the scripts that remain (static/) still work."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from csa.ui.headers import CONTENT_SECURITY_POLICY
from tools.browser import new_page, sign_in

pytestmark = pytest.mark.browser

# Reported to the page by the browser for each blocked script, style or frame.
LISTEN = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
});
"""

MAIN_PAGES = {
    "member@demo.farm": ["/", "/share/", "/auth/login"],
    "farmer@demo.farm": ["/harvest/", "/rounds/", "/calendar/"],
    "coordinator@demo.farm": ["/register/", "/register/members/1", "/setup/crops", "/calendar/"],
}


def watch(page: Page) -> list[str]:
    """Collect CSP reports from the console, and the pages' violation events."""
    heard: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            heard.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.add_init_script(LISTEN)
    return heard


def violations(page: Page) -> list[str]:
    return [f"{page.url}: {v}" for v in page.evaluate("window.cspViolations")]


def test_main_pages_of_every_role_load_without_a_policy_violation(open_page):
    for email, paths in MAIN_PAGES.items():
        page = open_page()
        heard = watch(page)
        sign_in(page, email)
        for path in paths:
            response = page.goto(path)
            assert response is not None
            assert response.status == 200, path
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            page.wait_for_load_state("load")
            heard += violations(page)
        assert heard == [], heard


def test_the_listeners_hear_a_violation(browser, live):
    """Their silence above means something: an inline style is reported at once."""
    page = new_page(browser, live.url)
    try:
        heard = watch(page)
        page.goto("/auth/login")
        page.evaluate(
            "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')"
        )
        page.wait_for_function("window.cspViolations.length > 0")
        assert any("style-src" in v for v in violations(page))
        assert any("style-src" in h for h in heard)
    finally:
        page.context.close()


def test_harvest_script_and_confirm_questions_work_under_the_policy(open_page):
    page = open_page()
    heard = watch(page)
    sign_in(page, "coordinator@demo.farm")
    page.goto("/register/members/1")
    questions: list[str] = []

    def answer_no(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer_no)
    page.get_by_role("button", name="End", exact=True).first.click()
    assert questions
    assert questions[0].startswith("End this membership?")
    expect(page).to_have_url(re.compile(r"/register/members/1$"))
    expect(page.get_by_role("button", name="End", exact=True).first).to_be_visible()
    page.goto("/harvest/")
    lines = page.locator("[data-line]")
    before = lines.count()
    page.locator("#add-line").click()  # static/harvest.js adds a line without a reload
    expect(lines).to_have_count(before + 1)
    assert heard + violations(page) == []
