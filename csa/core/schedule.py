"""The pickup calendar as pure functions: which dates are rounds, when each one locks.

No Flask, no database: the jobs and the calendar page feed it plain values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Rhythm:
    """When a site hands out shares: a weekday, every `every_weeks` ISO weeks."""

    weekday: int  # 0 = Monday
    every_weeks: int = 1
    week_offset: int = 0

    def serves(self, day: date) -> bool:
        if day.weekday() != self.weekday:
            return False
        every = max(1, self.every_weeks)
        return day.isocalendar().week % every == self.week_offset % every


@dataclass(frozen=True, slots=True)
class CutoffRule:
    """A round locks `days_before` its date at `at`, in the farm's time zone."""

    days_before: int = 1
    at: time = time(18, 0)

    @classmethod
    def parse(cls, days_before: int | str, at: str | time) -> CutoffRule:
        if isinstance(at, str):
            hours, minutes = at.split(":")
            at = time(int(hours), int(minutes))
        return cls(int(days_before), at)


def round_dates(rhythms: Iterable[Rhythm], first: date, last: date) -> list[date]:
    """Every date in first..last on which at least one site hands out shares."""
    rhythms = list(rhythms)
    days = []
    day = first
    while day <= last:
        if any(r.serves(day) for r in rhythms):
            days.append(day)
        day += timedelta(days=1)
    return days


def cutoff_at(round_date: date, rule: CutoffRule, tz: str) -> datetime:
    """The moment a round locks, as naive UTC.

    Computed from the local wall-clock time, so 18:00 stays 18:00 across daylight-saving
    changes (the UTC hour moves instead).
    """
    local = datetime.combine(round_date - timedelta(days=rule.days_before), rule.at)
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)


def is_due(cutoff: datetime | None, now_utc: datetime) -> bool:
    """True once the cutoff has passed (a round without a cutoff never locks by itself)."""
    return cutoff is not None and cutoff <= now_utc
