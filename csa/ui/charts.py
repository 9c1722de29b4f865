"""Small server-rendered SVG charts: plain numbers and ready-made labels in, markup out.

No JavaScript library and nothing fetched: a chart must load on a phone in the field and
print. The functions know nothing of Flask or the database; callers format the labels
(locale, units) and pass plain numbers for the geometry. Every text is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

BAR = "#2f6b2f"  # the stylesheet's --green: 6.4:1 on white
DONATED = "#b7791f"  # amber, told apart from BAR by lightness too
INK = "#1d2a1f"
MUTED = "#4d5a4f"
GRID = "#d6dccf"
FONT = 'font-family="DejaVu Sans, Noto Sans, system-ui, sans-serif"'


@dataclass
class WeekRow:
    """One crop across the weeks: a value per week, its labels, and a total to print."""

    label: str
    values: Sequence[float]
    total_text: str = ""
    value_texts: Sequence[str] = field(default_factory=list)


@dataclass
class BarRow:
    """One crop of a member's season: what it received (part donated) against its fair share."""

    label: str
    received: float
    fair: float
    text: str = ""
    donated: float = 0


def _num(value: float) -> str:
    """Coordinates with at most one decimal: shorter markup, same picture."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(x: float, y: float, content: str, *, anchor: str = "start", extra: str = "") -> str:
    attrs = f'x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"'
    return f"<text {attrs}{' ' + extra if extra else ''}>{escape(content)}</text>"


def _frame(
    chart_id: str,
    width: float,
    height: float,
    title: str,
    desc: str,
    body: str,
    css_class: str = "chart",
) -> Markup:
    """Wrap a chart body in an <svg> named by its title and description (for screen readers)."""
    cid = escape(chart_id)
    return Markup(  # noqa: S704 - every text inside was escaped above
        f'<svg class="{escape(css_class)}" id="{cid}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'width="{_num(width)}" height="{_num(height)}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="13" fill="{INK}">'
        f'<title id="{cid}-title">{escape(title)}</title>'
        f'<desc id="{cid}-desc">{escape(desc)}</desc>'
        f"{body}</svg>"
    )


def weekly_bars(
    rows: Sequence[WeekRow],
    weeks: Sequence[str],
    *,
    chart_id: str,
    title: str,
    desc: str = "",
    label_every: int = 0,
) -> Markup:
    """A row of weekly bars per crop, each row on its own scale (kg and bunches never mix).

    :param weeks: a label per week; every `label_every`-th is printed (0: chosen to fit).
    """
    label_w, total_w, row_h, gap = 130.0, 120.0, 30.0, 2.0
    count = max(1, len(weeks))
    col = max(10.0, min(44.0, 660.0 / count))
    width = label_w + count * col + total_w
    axis_h = 22.0
    height = len(rows) * row_h + axis_h + 4
    every = label_every or max(1, round(44 / col))
    parts: list[str] = []
    for i, row in enumerate(rows):
        top = i * row_h
        base = top + row_h - 6
        peak = max((v for v in row.values if v > 0), default=0)
        parts.append(
            f'<line x1="{_num(label_w)}" x2="{_num(label_w + count * col)}" '
            f'y1="{_num(base)}" y2="{_num(base)}" stroke="{GRID}"/>'
        )
        parts.append(_text(label_w - 8, base - 5, row.label, anchor="end"))
        for j, value in enumerate(row.values[:count]):
            if value <= 0 or peak <= 0:
                continue
            h = max(1.5, (row_h - 10) * value / peak)
            x = label_w + j * col + gap / 2
            tip = row.value_texts[j] if j < len(row.value_texts) else _num(value)
            week = weeks[j] if j < len(weeks) else ""
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(base - h)}" width="{_num(col - gap)}" '
                f'height="{_num(h)}" fill="{BAR}"><title>{escape(row.label)}, '
                f"{escape(week)}: {escape(tip)}</title></rect>"
            )
        if row.total_text:
            parts.append(_text(width - 4, base - 5, row.total_text, anchor="end"))
    axis_y = len(rows) * row_h + 14
    for j, week in enumerate(weeks):
        if j % every == 0:
            x = label_w + j * col + col / 2
            parts.append(
                _text(x, axis_y, week, anchor="middle", extra=f'font-size="11" fill="{MUTED}"')
            )
    return _frame(chart_id, width, height, title, desc, "".join(parts))


def received_vs_fair(
    rows: Sequence[BarRow],
    *,
    chart_id: str,
    title: str,
    desc: str = "",
    fair_label: str = "",
    donated_label: str = "",
) -> Markup:
    """A bar per crop for what was received, with a mark at the fair share.

    Phone first: the crop and its amounts on one line, the bar under them across the whole
    width, so the chart reads at its natural size on a 390 px screen. Each row has its own
    scale (pieces next to kilograms); the printed amounts carry the numbers. A donated part
    is drawn in a second colour.
    """
    width, row_h, bar_h = 340.0, 46.0, 14.0
    legend_h = 26.0 if fair_label or donated_label else 0.0
    height = len(rows) * row_h + legend_h
    parts: list[str] = []
    for i, row in enumerate(rows):
        top = i * row_h
        bar_y = top + 22
        scale = max(row.received, row.fair, 0)
        parts.append(_text(0, top + 15, row.label, extra='font-weight="bold"'))
        if row.text:
            parts.append(_text(width, top + 15, row.text, anchor="end"))
        parts.append(
            f'<rect x="0" y="{_num(bar_y)}" width="{_num(width)}" height="{_num(bar_h)}" '
            f'fill="#f3f5ef" stroke="{GRID}"/>'
        )
        if scale <= 0:
            continue
        # Leave room at the right so a fair-share mark at the very end stays visible.
        span = width - 4
        kept_w = span * max(0.0, row.received - row.donated) / scale
        given_w = span * max(0.0, min(row.donated, row.received)) / scale
        if kept_w > 0:
            parts.append(
                f'<rect x="0" y="{_num(bar_y)}" width="{_num(kept_w)}" height="{_num(bar_h)}" '
                f'fill="{BAR}"/>'
            )
        if given_w > 0:
            parts.append(
                f'<rect x="{_num(kept_w)}" y="{_num(bar_y)}" width="{_num(given_w)}" '
                f'height="{_num(bar_h)}" fill="{DONATED}"/>'
            )
        fx = span * row.fair / scale
        parts.append(
            f'<line x1="{_num(fx + 1.5)}" x2="{_num(fx + 1.5)}" y1="{_num(bar_y - 4)}" '
            f'y2="{_num(bar_y + bar_h + 4)}" stroke="{INK}" stroke-width="3"/>'
        )
    y = len(rows) * row_h + 16
    small = f'font-size="12" fill="{MUTED}"'
    if fair_label:
        parts.append(
            f'<line x1="1.5" x2="1.5" y1="{_num(y - 11)}" y2="{_num(y + 3)}" '
            f'stroke="{INK}" stroke-width="3"/>'
        )
        parts.append(_text(10, y, fair_label, extra=small))
    if donated_label:
        x = width / 2
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y - 10)}" width="12" height="12" fill="{DONATED}"/>'
        )
        parts.append(_text(x + 18, y, donated_label, extra=small))
    return _frame(chart_id, width, height, title, desc, "".join(parts), css_class="chart narrow")
