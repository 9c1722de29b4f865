"""The pure calendar rules: which dates are rounds, and cutoffs across daylight saving."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from csa.core.schedule import CutoffRule, Rhythm, cutoff_at, is_due, round_dates


def test_weekly_and_biweekly_sites():
    tuesday = Rhythm(weekday=1)
    biweekly_friday = Rhythm(weekday=4, every_weeks=2, week_offset=1)  # odd ISO weeks
    days = round_dates([tuesday, biweekly_friday], date(2027, 5, 3), date(2027, 5, 30))
    assert [d for d in days if d.weekday() == 1] == [
        date(2027, 5, 4),
        date(2027, 5, 11),
        date(2027, 5, 18),
        date(2027, 5, 25),
    ]
    fridays = [d for d in days if d.weekday() == 4]
    assert all(d.isocalendar().week % 2 == 1 for d in fridays)
    assert fridays == [date(2027, 5, 14), date(2027, 5, 28)]


def test_no_sites_no_rounds():
    assert round_dates([], date(2027, 5, 1), date(2027, 6, 1)) == []


@pytest.mark.parametrize(
    ("round_date", "expected_utc"),
    [
        # Europe/Warsaw: CET (UTC+1) until 2027-03-28 02:00, then CEST (UTC+2).
        (date(2027, 3, 27), datetime(2027, 3, 26, 17, 0)),  # cutoff Friday 18:00 CET
        (date(2027, 3, 29), datetime(2027, 3, 28, 16, 0)),  # cutoff on the change day, CEST
        (date(2027, 10, 31), datetime(2027, 10, 30, 16, 0)),  # Saturday 18:00 CEST
        (date(2027, 11, 1), datetime(2027, 10, 31, 17, 0)),  # back to CET on the 31st
    ],
)
def test_cutoff_keeps_local_wall_clock_across_dst(round_date, expected_utc):
    rule = CutoffRule(days_before=1, at=time(18, 0))
    assert cutoff_at(round_date, rule, "Europe/Warsaw") == expected_utc


def test_cutoff_rule_parses_config_values():
    assert CutoffRule.parse("2", "07:30") == CutoffRule(2, time(7, 30))


def test_is_due():
    cutoff = datetime(2027, 5, 3, 16, 0)
    assert not is_due(cutoff, datetime(2027, 5, 3, 15, 59))
    assert is_due(cutoff, datetime(2027, 5, 3, 16, 0))
    assert not is_due(None, datetime(2030, 1, 1))
