"""Locale-aware display of quantities and weekdays for templates, mails and sheets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import get_day_names
from flask_babel import format_decimal, format_time, get_locale, lazy_gettext

from csa.core.quantity import MILLI

UNITS = {
    "kg": lazy_gettext("kg"),
    "g": lazy_gettext("g"),
    "bunch": lazy_gettext("bunch"),
    "piece": lazy_gettext("pc"),
    "head": lazy_gettext("head"),
    "l": lazy_gettext("l"),
    "box": lazy_gettext("box"),
}


def unit_label(unit: str) -> str:
    return str(UNITS.get(unit, unit))


def format_quantity(milli: int, unit: str | None = None) -> str:
    """Format thousandths for the current locale: 12500, "kg" -> "12.5 kg" (or "12,5 kg")."""
    number = format_decimal(Decimal(milli) / MILLI, format="#,##0.###")
    return f"{number} {unit_label(unit)}" if unit else number


def weekday_name(weekday: int) -> str:
    """Monday is 0, as in date.weekday()."""
    return str(get_day_names("wide", locale=get_locale())[weekday])


def format_clock(moment: dt.time) -> str:
    """A time of day (a site's opening hours) the locale's way: "4:00 PM" or "16:00".

    Not shifted between time zones: opening hours are the farm's wall-clock time.
    """
    return str(format_time(moment, "short", rebase=False))
