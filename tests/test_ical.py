"""csa.ical without an app: escaping, folding, UTC times and the calendar's frame."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from csa.calendar.ical import (
    CRLF,
    MAX_OCTETS,
    Event,
    escape_text,
    fold,
    format_utc,
    render_calendar,
)

WARSAW = ZoneInfo("Europe/Warsaw")
STAMP = datetime(2027, 5, 1, 8, 30, tzinfo=UTC)


def unfold(text: str) -> list[str]:
    """Undo RFC 5545 folding: a CRLF followed by one space joins two lines."""
    return text.replace(CRLF + " ", "").split(CRLF)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a, b", "a\\, b"),
        ("a; b", "a\\; b"),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\nlines"),
        ("windows\r\nline", "windows\\nline"),
        ("old mac\rline", "old mac\\nline"),
        ("\\,;", "\\\\\\,\\;"),
        ("bell\x07 and tab\t", "bell and tab\t"),
        ("Łódź, ул. Ленина", "Łódź\\, ул. Ленина"),
    ],
)
def test_escape_text(raw, escaped):
    assert escape_text(raw) == escaped


def test_fold_leaves_short_lines_alone():
    line = "SUMMARY:" + "x" * (MAX_OCTETS - 8)
    assert fold(line) == line


def test_fold_splits_at_75_octets_and_round_trips():
    line = "DESCRIPTION:" + "abcdefghij" * 30
    folded = fold(line)
    parts = folded.split(CRLF)
    assert len(parts) > 1
    assert all(len(p.encode()) <= MAX_OCTETS for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert len(parts[0].encode()) == MAX_OCTETS
    assert unfold(folded) == [line]


def test_fold_never_splits_a_multibyte_character():
    line = "LOCATION:" + "Zażółć gęślą jaźń ул. Ленина 🥕" * 8
    folded = fold(line)
    parts = folded.split(CRLF)
    assert all(len(p.encode("utf-8")) <= MAX_OCTETS for p in parts)
    for p in parts:
        p.encode("utf-8").decode("utf-8")  # each physical line is valid UTF-8 on its own
    assert unfold(folded) == [line]


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2027, 5, 4, 16, 0, tzinfo=WARSAW), "20270504T140000Z"),  # summer, UTC+2
        (datetime(2027, 11, 30, 16, 0, tzinfo=WARSAW), "20271130T150000Z"),  # winter, UTC+1
        (datetime(2027, 5, 4, 14, 0), "20270504T140000Z"),  # naive is UTC already
    ],
)
def test_format_utc(moment, text):
    assert format_utc(moment) == text


def event(**overrides):
    values = {
        "uid": "round-1-membership-2@csa",
        "start": datetime(2027, 5, 4, 16, tzinfo=WARSAW),
        "end": datetime(2027, 5, 4, 19, tzinfo=WARSAW),
        "summary": "Pickup: Old Mill",
        "location": "Mill Lane 1, Back door",
    }
    values.update(overrides)
    return Event(**values)


def test_render_calendar_frame_and_events():
    text = render_calendar(
        [event(), event(uid="round-2-membership-2@csa", status="CANCELLED", description="Rain")],
        "Test Farm: pickups",
        STAMP,
    )
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace(CRLF, "")  # every line ends in CRLF, no bare LF or CR
    assert "\r" not in text.replace(CRLF, "")
    lines = unfold(text)
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 2
    assert "UID:round-1-membership-2@csa" in lines
    assert "DTSTAMP:20270501T083000Z" in lines
    assert "DTSTART:20270504T140000Z" in lines
    assert "DTEND:20270504T170000Z" in lines
    assert "SUMMARY:Pickup: Old Mill" in lines
    assert "LOCATION:Mill Lane 1\\, Back door" in lines
    assert "STATUS:CONFIRMED" in lines
    assert "STATUS:CANCELLED" in lines
    assert "DESCRIPTION:Rain" in lines
    assert "X-WR-CALNAME:Test Farm: pickups" in lines


def test_render_calendar_without_events_is_still_valid():
    lines = unfold(render_calendar([], "Empty", STAMP))
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines[-2:] == ["END:VCALENDAR", ""]
    assert "BEGIN:VEVENT" not in lines


def test_render_calendar_folds_long_values():
    text = render_calendar([event(description="A long note. " * 20)], "Farm", STAMP)
    assert all(len(line.encode()) <= MAX_OCTETS for line in text.split(CRLF))
    assert "DESCRIPTION:" + "A long note. " * 20 in unfold(text)


def test_empty_optional_values_are_left_out():
    lines = unfold(render_calendar([event(location="", description="")], "Farm", STAMP))
    assert not any(line.startswith(("LOCATION", "DESCRIPTION")) for line in lines)


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status"):
        render_calendar([event(status="MAYBE")], "Farm", STAMP)
