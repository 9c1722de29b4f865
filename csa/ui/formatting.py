"""Locale-aware display of quantities and weekdays for templates, mails and sheets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import get_day_names
from flask import g
from flask_babel import format_currency, format_decimal, format_time, get_locale, lazy_gettext

from csa.core.quantity import MILLI, UNITS

UNIT_LABELS = {
    "kg": lazy_gettext("kg"),
    "g": lazy_gettext("g"),
    "bunch": lazy_gettext("bunch"),
    "piece": lazy_gettext("pc"),
    "head": lazy_gettext("head"),
    "l": lazy_gettext("l"),
    "box": lazy_gettext("box"),
}


def unit_label(unit: str) -> str:
    return str(UNIT_LABELS.get(unit, unit))


assert set(UNIT_LABELS) == set(UNITS), "every crop unit has a word"


def format_quantity(milli: int, unit: str | None = None, grouping: bool = True) -> str:
    """Format thousandths for the current locale: 12500, "kg" -> "12.5 kg" (or "12,5 kg").

    `grouping=False` writes no thousands separator, for a value typed back into a form
    ("1,250.5" would read back as a decimal comma).
    """
    pattern = "#,##0.###" if grouping else "0.###"
    number = format_decimal(Decimal(milli) / MILLI, format=pattern)
    return f"{number} {unit_label(unit)}" if unit else number


class QuantityFormatter:
    """format_quantity with a cache, for one locale: a round repeats the same few
    quantities thousands of times, and Babel's number formatting is the slow part of
    gathering a sheet."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], str] = {}

    def __call__(self, milli: int, unit: str) -> str:
        key = (milli, unit)
        text = self._cache.get(key)
        if text is None:
            text = self._cache[key] = format_quantity(milli, unit)
        return text


def format_money(cents: int) -> str:
    """Show cents as an amount in the reader's language: 65000 -> "650.00" or "650,00"."""
    return str(format_decimal(Decimal(cents) / 100, format="#,##0.00"))


def format_price(cents: int, currency: str | None = None) -> str:
    """Show cents as a price, the reader's way: "€650.00", "650,00 zł".

    The currency is the farm's (csa/money/profile.py) unless given; it is read once per
    request or job (flask.g).
    """
    if currency is None:
        currency = g.get("farm_currency")
        if currency is None:
            from csa.money.profile import farm_currency

            currency = g.farm_currency = farm_currency()
    return str(format_currency(Decimal(cents) / 100, currency))


def weekday_name(weekday: int) -> str:
    """Monday is 0, as in date.weekday()."""
    return str(get_day_names("wide", locale=get_locale())[weekday])


def format_clock(moment: dt.time) -> str:
    """A time of day (a site's opening hours) the locale's way: "4:00 PM" or "16:00".

    Not shifted between time zones: opening hours are the farm's wall-clock time.
    """
    return str(format_time(moment, "short", rebase=False))
