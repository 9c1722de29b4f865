"""`python -m tools.screenshots` still works and keeps the README's images small."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.helpers import ROOT

pytestmark = pytest.mark.browser

EXPECTED = [
    "harvest-form-phone.png",
    "my-share-phone.png",
    "pickup-list.png",
    "round-page.png",
    "season-chart.png",
    "season-so-far-phone.png",
]


def test_screenshots_command_writes_small_pngs(chromium_required, tmp_path):
    # Its own process, as the README runs it (one Playwright per thread: the tests hold one).
    out = tmp_path / "shots"
    done = subprocess.run(
        [sys.executable, "-m", "tools.screenshots", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = sorted(out.glob("*.png"))
    assert [p.name for p in written] == EXPECTED
    for path in written:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), path.name
        assert 5_000 < len(data) < 200_000, (path.name, len(data))
        assert path.name in done.stdout
