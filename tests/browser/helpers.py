"""Helpers of the browser tests: artefacts (screenshots, axe reports) and page checks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# axe-core impacts that fail a page; "moderate" and "minor" are written to the report only.
BLOCKING = ("serious", "critical")


def save_screenshot(page: Page, name: str) -> Path:
    """Keep the last screen of a journey as a test artefact (test-artifacts/, gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def check_accessibility(page: Page, name: str) -> list[dict[str, Any]]:
    """Run axe-core (bundled by the axe-playwright-python package) on the page as it is.

    Every violation goes into test-artifacts/axe-<name>.json; serious and critical ones
    fail the test. Returns the violations that did not fail it.
    """
    from axe_playwright_python.sync_playwright import Axe

    violations: list[dict[str, Any]] = Axe().run(page).response["violations"]
    ARTIFACTS.mkdir(exist_ok=True)
    report = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]],
        }
        for v in violations
    ]
    safe = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    (ARTIFACTS / f"axe-{safe}.json").write_text(json.dumps(report, indent=2))
    blocking = [v for v in report if v["impact"] in BLOCKING]
    assert blocking == [], f"axe-core on {name} ({page.url}): {json.dumps(blocking, indent=2)}"
    return [v for v in report if v["impact"] not in BLOCKING]


def fits_the_screen(page: Page) -> bool:
    """No sideways scrolling of the page itself (wide tables scroll inside their frame)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def status_of(page: Page, url: str) -> int:
    """Open a URL in the page and return the HTTP status it answered with."""
    response = page.goto(url)
    assert response is not None, url
    return response.status
