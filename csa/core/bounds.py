"""The ranges every number and date from outside must lie in before it reaches the database.

INT4_MAX is what an `Integer` column holds on PostgreSQL (SQLite would take more, so the
bound is checked here, the same on both). Dates keep to a range a farm's records can use:
beyond it date arithmetic (a week after 9999-12-31) overflows.
"""

from __future__ import annotations

from datetime import date

INT4_MAX = 2**31 - 1
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)


def day_in_range(day: date) -> bool:
    """True when a date lies in the range the app keeps records for."""
    return FIRST_DAY <= day <= LAST_DAY


def clamp_day(day: date) -> date:
    """The nearest date in the range (a calendar asked to show year 9999 shows 2099)."""
    return min(max(day, FIRST_DAY), LAST_DAY)
