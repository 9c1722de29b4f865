"""Reading values from URLs: a malformed one is "not there" (or a 404), never a 500."""

from __future__ import annotations

import datetime as dt
import re

from flask import abort, request

_ID = re.compile(r"^[0-9]{1,9}$")


def parse_id(value: str | None) -> int | None:
    """A row id, or None for anything else (no sign, no overflow past nine digits)."""
    return int(value) if value and _ID.match(value) else None


def id_arg(name: str) -> int | None:
    """An id from the query string, ignoring anything that is not one."""
    return parse_id(request.args.get(name))


def parse_day(value: str | None) -> dt.date | None:
    """An ISO date, or None for an empty or malformed one."""
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def day_or_404(value: str) -> dt.date:
    """An ISO date from the path; a malformed one is a page that does not exist."""
    day = parse_day(value)
    if day is None:
        abort(404)
    return day
