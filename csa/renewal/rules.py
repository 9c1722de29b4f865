"""The dates of a renewal, as plain functions of dates and the farm's settings (no database).

A season's invitations go out `weeks` before its last day; each may be answered for `days`,
but never on or after the next season's first day, so the next season always starts with
every answer known. The reminder goes `reminder_days` before the deadline.
"""

from __future__ import annotations

from datetime import date, timedelta


def invitation_day(season_end: date, weeks: int) -> date:
    """The first day the invitations of a season ending on `season_end` go out."""
    return season_end - timedelta(weeks=weeks)


def answer_deadline(invited_on: date, days: int, next_start: date) -> date:
    """The last day to answer: `days` after the invitation, at the latest the day before
    the next season starts (and never before the invitation itself)."""
    return max(invited_on, min(invited_on + timedelta(days=days), next_start - timedelta(days=1)))


def reminder_day(deadline: date, days_before: int) -> date:
    """The day the one reminder goes to those who have not answered."""
    return deadline - timedelta(days=days_before)


def trial_undecided(trial_end: date | None, end: date) -> bool:
    """A trial whose member has neither joined (trial_end cleared) nor left (end = trial_end)."""
    return trial_end is not None and end > trial_end
