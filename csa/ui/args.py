"""Reading values from URLs: a malformed one is "not there" (or a 404), never a 500."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map, ValidationError

from csa.core.bounds import INT4_MAX, clamp_day, day_in_range

_ID = re.compile(r"^[0-9]{1,9}$")


def parse_id(value: str | None) -> int | None:
    """A row id, or None for anything else (no sign, no overflow past nine digits)."""
    return int(value) if value and _ID.match(value) else None


def id_arg(name: str) -> int | None:
    """An id from the query string, ignoring anything that is not one."""
    return parse_id(request.args.get(name))


def page_arg() -> int:
    """The page of a list from `?page=`: 1 unless it is an id-sized number.

    Flask-SQLAlchemy's paginate reads it with int(), which takes 10**30 (an OFFSET no
    database holds) and digits of other scripts; pass this value as `page=` instead.
    """
    return id_arg("page") or 1


def parse_day(value: str | None) -> dt.date | None:
    """An ISO date, or None for an empty or malformed one; far dates are brought into range."""
    try:
        return clamp_day(dt.date.fromisoformat(value)) if value else None
    except ValueError:
        return None


def day_or_404(value: str) -> dt.date:
    """An ISO date from the path; a malformed or far one is a page that does not exist."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        abort(404)
    if not day_in_range(day):
        abort(404)
    return day


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` with ASCII digits only, up to what an Integer column holds; above: 404.

    Werkzeug's own converter takes any size, and an id past 2**63 (or 2**31 on PostgreSQL)
    made the database raise instead of the page answering "not found".
    """

    regex = r"[0-9]+"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT4_MAX)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        if len(value) > len(str(INT4_MAX)):
            raise ValidationError()  # no int() of a 10,000-digit number either
        return super().to_python(value)


def register_converters(app: Flask) -> None:
    """Make every `<int:...>` in every blueprint bounded; call before they are registered."""
    app.url_map.converters["int"] = BoundedIntConverter
