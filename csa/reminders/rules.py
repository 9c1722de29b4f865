"""Which reminder an invoice is due, and how open amounts age. Pure: no Flask, no database.

A reminder level is due once its days after the due date have passed, only while an amount
is open, never twice, never a friendly one after the second, never under a hardship
arrangement and never while the invoice sits in a direct-debit batch the bank has not
collected yet. When the job was not run for a while and both are due, only the second goes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

FRIENDLY = 1
SECOND = 2
LEVELS = (FRIENDLY, SECOND)

# Ageing buckets of an open amount, by days past its due date (as of a day).
NOT_DUE = "not_due"
DAYS_0_30 = "0_30"
DAYS_31_60 = "31_60"
OVER_60 = "over_60"
BUCKETS = (NOT_DUE, DAYS_0_30, DAYS_31_60, OVER_60)


@dataclass(frozen=True, slots=True)
class InvoiceState:
    """What the rule needs to know of one invoice."""

    due_on: date
    open_cents: int
    sent: frozenset[int]  # the levels already sent
    hardship: bool = False  # the household is under a hardship arrangement today
    pending_debit: bool = False  # in an exported batch not collected or returned yet


def reminder_due(state: InvoiceState, today: date, first_days: int, second_days: int) -> int | None:
    """The reminder level to send today for an invoice, or None."""
    if state.open_cents <= 0 or state.hardship or state.pending_debit:
        return None
    if today >= state.due_on + timedelta(days=second_days):
        level = SECOND
    elif today >= state.due_on + timedelta(days=first_days):
        level = FRIENDLY
    else:
        return None
    if any(sent >= level for sent in state.sent):
        return None
    return level


def bucket(due_on: date, today: date) -> str:
    """The ageing bucket of an amount due on `due_on`, as of `today`."""
    days = (today - due_on).days
    if days < 0:
        return NOT_DUE
    if days <= 30:
        return DAYS_0_30
    if days <= 60:
        return DAYS_31_60
    return OVER_60


def age(
    amounts: Iterable[tuple[Hashable, date, int]], today: date
) -> tuple[dict[Hashable, dict[str, int]], dict[str, int]]:
    """Open amounts (key, due date, cents) summed per key and bucket, and per bucket.

    Every key gets every bucket (0 where nothing is), so the totals add up across a row.
    """
    rows: dict[Hashable, dict[str, int]] = {}
    totals = dict.fromkeys(BUCKETS, 0)
    for key, due_on, cents in amounts:
        row = rows.setdefault(key, dict.fromkeys(BUCKETS, 0))
        where = bucket(due_on, today)
        row[where] += cents
        totals[where] += cents
    return rows, totals
