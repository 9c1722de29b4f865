"""The rules of member work (csa/core/work.py), without an app."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from csa.core.work import (
    HoursError,
    Ledger,
    LedgerError,
    buyout_cents,
    call_due,
    check_buyout,
    check_transfer,
    format_hours,
    months_held,
    parse_hours,
    reminder_due,
    required_minutes,
)

SEASON = (date(2027, 5, 1), date(2027, 11, 30))  # 7 months


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("2", 120), ("2,5", 150), ("1.25", 75), (" 0,1 ", 6), ("0.01", 1), ("10", 600)],
)
def test_hours_are_read_into_minutes(text, minutes):
    assert parse_hours(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "1e9", "NaN", "Infinity", "2,5,1"])
def test_bad_hours_are_refused(text):
    with pytest.raises(HoursError):
        parse_hours(text)


def test_zero_hours_may_be_allowed():
    assert parse_hours("0", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(120, "2"), (150, "2.5"), (75, "1.25"), (20, "0.33"), (0, "0"), (-90, "-1.5")],
)
def test_hours_are_shown_without_floats(minutes, text):
    assert format_hours(minutes) == text


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2027, 5, 1), date(2027, 11, 30), 7),
        (date(2027, 7, 15), date(2027, 11, 30), 5),
        (date(2027, 5, 31), date(2027, 6, 1), 2),
        (date(2027, 12, 1), date(2028, 1, 31), 2),
        (date(2027, 6, 1), date(2027, 5, 1), 0),
    ],
)
def test_months_held_count_each_month_begun(start, end, months):
    assert months_held(start, end) == months


def test_a_whole_season_owes_the_share_types_hours_times_shares():
    assert required_minutes(600, 1, SEASON, SEASON) == 600
    assert required_minutes(600, 2, SEASON, SEASON) == 1200


def test_a_late_joiner_owes_pro_rata_to_the_months_held():
    # 10 hours a season of 7 months, held July..November: 5/7 × 600 = 428.57 → 429
    assert required_minutes(600, 1, (date(2027, 7, 15), SEASON[1]), SEASON) == 429


def test_a_contract_beyond_the_season_never_owes_more_than_the_season():
    held = (date(2027, 1, 1), date(2028, 6, 30))
    assert required_minutes(600, 1, held, SEASON) == 600


def test_no_requirement_owes_nothing():
    assert required_minutes(0, 3, SEASON, SEASON) == 0


def test_the_ledger_counts_work_transfers_and_buy_outs():
    ledger = Ledger(required=600, done=240, pending=120, given_in=60, given_out=0, bought=120)
    assert ledger.credited == 420
    assert ledger.owed == 180
    assert ledger.surplus == 0


def test_pending_sign_ups_do_not_count_until_confirmed():
    assert Ledger(required=60, pending=600).owed == 60


def test_only_worked_hours_beyond_the_requirement_may_be_given():
    ledger = Ledger(required=600, done=720, bought=300)
    assert ledger.owed == 0
    assert ledger.surplus == 120
    check_transfer(ledger, 120)
    with pytest.raises(LedgerError):
        check_transfer(ledger, 121)
    with pytest.raises(LedgerError):
        check_transfer(ledger, 0)


def test_given_hours_leave_the_giver():
    ledger = Ledger(required=60, done=180, given_out=60)
    assert ledger.surplus == 60
    assert ledger.credited == 120


def test_a_buy_out_covers_at_most_what_is_owed():
    ledger = Ledger(required=600, done=420)
    check_buyout(ledger, 180)
    with pytest.raises(LedgerError):
        check_buyout(ledger, 181)
    with pytest.raises(LedgerError):
        check_buyout(Ledger(required=60, done=60), 1)


@pytest.mark.parametrize(
    ("minutes", "rate", "cents"),
    [(60, 2000, 2000), (90, 2000, 3000), (1, 2000, 33), (45, 1250, 938)],
)
def test_a_buy_out_costs_the_rate_pro_rata_rounded_half_up(minutes, rate, cents):
    assert buyout_cents(minutes, rate) == cents


def test_the_reminder_falls_due_48_hours_before_and_not_after_the_start():
    start = datetime(2027, 6, 10, 9, 0)
    assert not reminder_due(start, start - timedelta(hours=48, seconds=1))
    assert reminder_due(start, start - timedelta(hours=48))
    assert reminder_due(start, start - timedelta(minutes=1))
    assert not reminder_due(start, start)


def test_the_call_for_help_falls_due_some_days_before():
    start = datetime(2027, 6, 10, 9, 0)
    assert not call_due(start, start - timedelta(days=5, seconds=1), 5)
    assert call_due(start, start - timedelta(days=5), 5)
    assert not call_due(start, start + timedelta(hours=1), 5)
