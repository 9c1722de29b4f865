"""The payment plan schedule (csa/invoices/plans.py): pure, table-driven and property tests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csa.invoices.plans import PLANS, Instalment, due_dates, due_on_issue, instalments


def test_single_is_one_instalment_due_on_the_start():
    assert instalments(date(2027, 5, 1), date(2027, 11, 30), "single", 65000) == [
        Instalment(1, date(2027, 5, 1), 65000)
    ]


def test_monthly_is_one_a_calendar_month_first_due_on_the_start():
    plan = instalments(date(2027, 5, 12), date(2027, 11, 30), "monthly", 65000)
    assert [i.due for i in plan] == [
        date(2027, 5, 12),
        date(2027, 6, 1),
        date(2027, 7, 1),
        date(2027, 8, 1),
        date(2027, 9, 1),
        date(2027, 10, 1),
        date(2027, 11, 1),
    ]
    # 65000 / 7 = 9285.71...: five cents left over, on the first five instalments.
    assert [i.amount_cents for i in plan] == [9286] * 5 + [9285] * 2
    assert [i.number for i in plan] == list(range(1, 8))


def test_quarterly_is_every_three_months_across_a_new_year():
    plan = instalments(date(2027, 11, 1), date(2028, 10, 31), "quarterly", 100001)
    assert [i.due for i in plan] == [
        date(2027, 11, 1),
        date(2028, 2, 1),
        date(2028, 5, 1),
        date(2028, 8, 1),
    ]
    assert [i.amount_cents for i in plan] == [25001, 25000, 25000, 25000]


def test_a_membership_of_one_day_pays_once_whatever_the_plan():
    for plan in PLANS:
        assert due_dates(date(2027, 6, 30), date(2027, 6, 30), plan) == [date(2027, 6, 30)]


def test_unknown_plan_and_reversed_dates_are_refused():
    with pytest.raises(ValueError, match="plan"):
        due_dates(date(2027, 5, 1), date(2027, 6, 1), "weekly")
    with pytest.raises(ValueError, match="ends before"):
        due_dates(date(2027, 5, 1), date(2027, 4, 1), "monthly")
    with pytest.raises(ValueError, match="negative"):
        instalments(date(2027, 5, 1), date(2027, 6, 1), "single", -1)


def test_an_invoice_issued_late_still_gives_the_minimum_term():
    assert due_on_issue(date(2027, 5, 1), date(2027, 4, 17)) == date(2027, 5, 1)
    assert due_on_issue(date(2027, 5, 1), date(2027, 5, 20)) == date(2027, 5, 27)


@given(
    start=st.dates(date(2020, 1, 1), date(2035, 12, 31)),
    days=st.integers(0, 800),
    plan=st.sampled_from(PLANS),
    price=st.integers(0, 10**9),
)
def test_instalments_add_up_differ_by_a_cent_and_fall_in_order_within_the_dates(
    start, days, plan, price
):
    end = start + timedelta(days=days)
    plan_rows = instalments(start, end, plan, price)
    amounts = [i.amount_cents for i in plan_rows]
    assert sum(amounts) == price
    assert max(amounts) - min(amounts) <= 1
    # The extra cents sit on the first instalments: never a larger one after a smaller one.
    assert amounts == sorted(amounts, reverse=True)
    dues = [i.due for i in plan_rows]
    assert dues == sorted(set(dues))
    assert dues[0] == start
    assert all(start <= d <= end for d in dues)
    assert [i.number for i in plan_rows] == list(range(1, len(plan_rows) + 1))
    if plan == "single":
        assert len(plan_rows) == 1
    elif plan == "monthly":
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        assert len(plan_rows) == months
    assert instalments(start, end, plan, price) == plan_rows  # deterministic
