"""Payment plans: the instalments of a season price, from the membership's dates. Pure: no
Flask, no database (csa/invoices/operations.py turns them into invoices).

- single: one instalment, due on the membership's start (the season's start for everyone
  who joins at the start; a latecomer's own start date);
- monthly: one per calendar month the membership runs, from its start's month to its end's;
  the first is due on the start, every later one on the 1st of its month;
- quarterly: the same every three months (start, then the 1st of start month + 3, + 6, ...).

Amounts: the price split equally with csa.core.money.split_cents (largest remainders), so
they add up to the price exactly; the cents left over go to the first instalments (ties are
broken by the instalment number), so the same price and dates always give the same plan.

An invoice never asks to be paid sooner than MIN_TERM_DAYS after it is issued
(`due_on_issue`): a household joining late, or an invoice issued late, gets that much time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from csa.core.money import split_cents

PLANS = ("single", "monthly", "quarterly")
MONTHS_PER_INSTALMENT = {"monthly": 1, "quarterly": 3}
# The shortest time a household gets to pay an invoice, counted from its issue date.
MIN_TERM_DAYS = 7


@dataclass(frozen=True, slots=True)
class Instalment:
    number: int  # 1..n
    due: date
    amount_cents: int


def _add_months(day: date, months: int) -> date:
    """The 1st of the month `months` after day's month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def due_dates(start: date, end: date, plan: str) -> list[date]:
    """The due dates of a plan for a membership running start..end (inclusive)."""
    if plan not in PLANS:
        raise ValueError(f"unknown payment plan {plan!r}")
    if end < start:
        raise ValueError("the membership ends before it starts")
    if plan == "single":
        return [start]
    step = MONTHS_PER_INSTALMENT[plan]
    dates = [start]
    k = 1
    while (day := _add_months(start, k * step)) <= end:
        dates.append(day)
        k += 1
    return dates


def instalments(start: date, end: date, plan: str, price_cents: int) -> list[Instalment]:
    """The instalments of a season price under a plan: numbered 1..n, due dates ascending
    within start..end, amounts adding up to the price and differing by at most one cent."""
    if price_cents < 0:
        raise ValueError("a price is never negative")
    dates = due_dates(start, end, plan)
    numbers = range(1, len(dates) + 1)
    amounts = split_cents(price_cents, dict.fromkeys(numbers, 1), key=lambda n: n)
    return [Instalment(n, day, amounts[n]) for n, day in zip(numbers, dates, strict=True)]


def due_on_issue(due: date, issued_on: date, term_days: int = MIN_TERM_DAYS) -> date:
    """The due date printed on an invoice issued on `issued_on` for an instalment due `due`."""
    return max(due, issued_on + timedelta(days=term_days))
