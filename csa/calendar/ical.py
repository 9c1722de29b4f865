"""iCalendar (RFC 5545) text, written by hand: a pickup feed needs a dozen properties, no library.

Pure: no Flask, no database. The calendar view gathers plain event values and calls
`render_calendar`; times are written in UTC with the Z suffix, valid without a VTIMEZONE.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

CRLF = "\r\n"
MAX_OCTETS = 75  # RFC 5545 3.1: a content line should not be longer, line break excluded
PRODID = "-//csa//pickup calendar//EN"
STATUSES = frozenset({"TENTATIVE", "CONFIRMED", "CANCELLED"})
# Control characters are not allowed in TEXT values (HTAB is); newlines are escaped first.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Event:
    """One VEVENT; `start` and `end` are aware datetimes (or naive UTC)."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    location: str = ""
    description: str = ""
    status: str = "CONFIRMED"


def escape_text(value: str) -> str:
    """Escape a TEXT value so commas, semicolons and newlines keep their meaning (3.3.11)."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return _CONTROL.sub("", value)


def fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character (3.1)."""
    if len(line.encode("utf-8")) <= MAX_OCTETS:
        return line
    parts: list[str] = []
    current = ""
    size = 0
    limit = MAX_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
            limit = MAX_OCTETS - 1  # continuation lines start with one space
        current += char
        size += width
    parts.append(current)
    return (CRLF + " ").join(parts)


def format_utc(moment: datetime) -> str:
    """Write a moment as a UTC DATE-TIME ("20270504T140000Z"); naive means UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _event_lines(event: Event, stamp: str) -> list[str]:
    status = event.status.upper()
    if status not in STATUSES:
        raise ValueError(f"unknown event status {event.status!r}")
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{format_utc(event.start)}",
        f"DTEND:{format_utc(event.end)}",
        f"SUMMARY:{escape_text(event.summary)}",
    ]
    if event.location:
        lines.append(f"LOCATION:{escape_text(event.location)}")
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    lines += [f"STATUS:{status}", "TRANSP:OPAQUE", "END:VEVENT"]
    return lines


def render_calendar(events: Iterable[Event], name: str, stamp: datetime) -> str:
    """The whole VCALENDAR as text: CRLF line ends, folded lines, escaped values.

    `stamp` is the DTSTAMP of every event (when the feed was generated).
    """
    stamp_text = format_utc(stamp)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for event in events:
        lines += _event_lines(event, stamp_text)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)
