"""The SVG chart helpers: plain numbers in, escaped and named markup out, no app needed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from csa.ui.charts import BarRow, WeekRow, received_vs_fair, weekly_bars

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - our own markup, made in this test


def _bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.findtext(f"{SVG}title")]


def test_weekly_bars_draw_a_bar_per_week_with_a_value_scaled_per_row():
    chart = weekly_bars(
        [
            WeekRow("Tomatoes", [0, 5000, 10000], "15 kg", ["0 kg", "5 kg", "10 kg"]),
            WeekRow("Kale", [3000, 0, 0], "3 bunch"),
        ],
        ["1 Jun", "8 Jun", "15 Jun"],
        chart_id="c1",
        title="Harvest",
        desc="Per crop and week",
    )
    root = _parse(chart)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.findtext(f"{SVG}title") == "Harvest"
    bars = _bars(root)
    assert [b.findtext(f"{SVG}title") for b in bars] == [
        "Tomatoes, 8 Jun: 5 kg",
        "Tomatoes, 15 Jun: 10 kg",
        "Kale, 1 Jun: 3000",
    ]
    heights = [float(b.get("height")) for b in bars]
    assert heights[1] == pytest.approx(2 * heights[0])  # scaled within the row
    assert heights[2] == pytest.approx(heights[1])  # each row's peak is full height
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "15 kg" in texts
    assert "1 Jun" in texts


@pytest.mark.parametrize("hostile", ['<script>alert("x")</script>', 'Tom & Jerry\'s "beans"'])
def test_every_text_is_escaped(hostile):
    week = weekly_bars(
        [WeekRow(hostile, [1], hostile, [hostile])], [hostile], chart_id="c", title=hostile
    )
    bars = received_vs_fair(
        [BarRow(hostile, 1, 1, hostile)], chart_id='x"y', title=hostile, desc=hostile
    )
    for markup in (week, bars):
        assert "<script>" not in str(markup)
        root = _parse(markup)  # still well-formed XML
        assert root.findtext(f"{SVG}title") == hostile


def test_received_vs_fair_marks_the_fair_share_and_the_donated_part():
    chart = received_vs_fair(
        [BarRow("Beetroot", 4, 5, "4 kg of 5 kg", donated=1), BarRow("Dill", 0, 0, "nothing")],
        chart_id="s",
        title="Season",
        fair_label="fair share",
        donated_label="donated",
    )
    root = _parse(chart)
    rects = list(root.iter(f"{SVG}rect"))
    fills = [r.get("fill") for r in rects]
    assert "#2f6b2f" in fills  # received and kept
    assert "#b7791f" in fills  # donated
    kept = next(r for r in rects if r.get("fill") == "#2f6b2f")
    given = next(r for r in rects if r.get("fill") == "#b7791f" and r.get("height") != "12")
    assert float(given.get("x")) == pytest.approx(float(kept.get("width")))
    assert float(kept.get("width")) == pytest.approx(3 * float(given.get("width")))
    marks = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke-width") == "3"]
    assert len(marks) == 2  # the fair share of the first row, and the legend's sample
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[:4] == ["Beetroot", "4 kg of 5 kg", "Dill", "nothing"]
    assert "fair share" in texts
    assert "donated" in texts


def test_no_rows_still_give_a_named_empty_chart():
    chart = weekly_bars([], [], chart_id="e", title="Nothing yet")
    assert re.search(r'height="\d+"', str(chart))
    assert _parse(chart).findtext(f"{SVG}title") == "Nothing yet"
